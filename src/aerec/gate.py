"""The validation gate: build runs only on the very data validate passed.

Validate records a digest of the ingest folder it checked in its
summary.json; build recomputes the digest of the folder it is about to read
and refuses unless that summary says `passed` for the same digest. So
neither `dvc repro --single-item build` after a failed validation nor
`aerec build` run by hand can build unvalidated (or since-changed) data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aerec.errors import AerecError
from aerec.schema import RATINGS_FILE

_CHUNK = 1 << 20
# validate's machine summary, in its report folder; build reads it.
SUMMARY_FILE = "summary.json"


def ingest_digest(ingest_dir: Path) -> str:
    """SHA-256 over the names and bytes of every visible file in `ingest_dir`, sorted by name.

    Hidden files (a stage's temporaries are `.NAME.*.tmp`) are not part of the data.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in Path(ingest_dir).iterdir() if p.is_file() and p.name[0] != ".")
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def require_validated(ingest_dir: Path, summary_path: Path) -> None:
    """Raise AerecError unless `summary_path` passed `ingest_dir` as it is now."""
    ratings = Path(ingest_dir) / RATINGS_FILE
    if not ratings.is_file():
        raise AerecError(f"{ratings}: ratings file not found; run `aerec ingest` first")
    rerun = f"run `aerec validate {ingest_dir}` first"
    try:
        summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AerecError(f"{summary_path}: no validation result of {ingest_dir}; {rerun}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AerecError(f"{summary_path}: unreadable validation result ({exc}); {rerun}") from None
    if not isinstance(summary, dict) or "input_sha256" not in summary:
        raise AerecError(f"{summary_path}: not a validation summary of this aerec; {rerun}")
    if summary["input_sha256"] != ingest_digest(ingest_dir):
        raise AerecError(
            f"{ingest_dir}: changed since it was validated ({summary_path} is of other data); "
            f"{rerun}"
        )
    if summary.get("passed") is not True:
        report = Path(summary_path).with_name(str(summary.get("report", "index.html")))
        errors = ", ".join(str(e) for e in summary.get("errors", [])) or "see the report"
        raise AerecError(
            f"{ingest_dir}: validation failed ({errors}); build refuses unvalidated data: "
            f"fix the data or validate.* in params.yaml, see {report}"
        )

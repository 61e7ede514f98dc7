"""The validate stage: the gate between ingest and build.

Runs the Great Expectations suites on an ingest directory and writes the
report directory: index.html (the self-contained page people read),
result.json (GX's own results, one per table suite) and summary.json (counts
and pass/fail per expectation, for machines). A failed `error` check raises
AerecError after the report is written, so the pipeline stops and the page
says why; failed `warn` checks are reported and pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aerec import validation
from aerec.config import Params, scale_of
from aerec.errors import AerecError
from aerec.gate import SUMMARY_FILE, ingest_digest
from aerec.io import atomic_folder, write_json, write_text
from aerec.validation import PER_ITEM, PER_USER, Validation
from aerec.validation_report import render

REPORT_FILE = "index.html"
RESULT_FILE = "result.json"


def run(ingest_dir: Path, out_dir: Path, params: Params, now: int | None = None) -> dict[str, Any]:
    """Validate `ingest_dir` and write the report into `out_dir`; return the summary.

    Reads params `dataset.name`, `dataset.scale` and `validate`. `now`
    (seconds since the epoch, default: the current time) is the latest
    plausible timestamp. Raises AerecError naming the failed error-severity
    expectations and the report's path when any failed.
    """
    import great_expectations as gx

    ingest_dir, out_dir = Path(ingest_dir), Path(out_dir)
    result = validation.validate(ingest_dir, params.dataset, params.validate_, now)
    summary = summarize(result, params.dataset.name)
    summary["input_sha256"] = ingest_digest(ingest_dir)
    dataset = params.dataset
    scale = scale_of(dataset, result.ingest.summary)
    page = render(result, dataset.name, scale, str(ingest_dir), gx.__version__)
    with atomic_folder(out_dir, "validate", ("index.html", "result.json", "summary.json")) as tmp:
        suites = {"great_expectations_version": gx.__version__, "suites": result.gx_results}
        write_json(suites, tmp / RESULT_FILE)
        write_json(summary, tmp / SUMMARY_FILE)
        write_text(page, tmp / REPORT_FILE)
    report = out_dir / REPORT_FILE
    if result.errors:
        names = ", ".join(o.label for o in result.errors)
        raise AerecError(
            f"{ingest_dir}: validation failed, {len(result.errors)} error expectation(s): "
            f"{names}; see {report}{_size_advice(result, params)}"
        )
    return summary


# The size thresholds a small dataset of one's own can miss: the count GX
# observed is set against the threshold, with the key to lower.
_SIZE_CHECKS = ("min_ratings", "min_users", "min_items")


def _size_advice(result: Validation, params: Params) -> str:
    """'; the data has 200 ratings: lower validate.min_ratings (1000) ...' for size failures."""
    advice = []
    for outcome in result.errors:
        if outcome.check in _SIZE_CHECKS and isinstance(outcome.observed, int | float):
            what = outcome.check.removeprefix("min_")
            limit = getattr(params.validate_, outcome.check)
            advice.append(
                f"the data has {int(outcome.observed):,} {what}: lower validate.{outcome.check} "
                f"(now {limit:,}) in params.yaml"
            )
    return "".join(f"; {a}" for a in advice)


def summarize(result: Validation, dataset: str) -> dict[str, Any]:
    """The machine summary: verdict, counts and every expectation's outcome."""
    outcomes = result.outcomes
    summary = result.ingest.summary
    return {
        "dataset": dataset,
        "passed": not result.errors,
        "errors": [o.label for o in result.errors],
        "warnings": [o.label for o in result.warnings],
        "expectations": {
            "total": len(outcomes),
            "passed": sum(o.success for o in outcomes),
            "failed": sum(not o.success for o in outcomes),
            "not_evaluated": sum(not o.evaluated for o in outcomes),
        },
        "counts": {
            "ratings": result.ingest.ratings.height,
            "users": _height(result, PER_USER),
            "items": _height(result, PER_ITEM),
            "rows_read": summary.get("rows_read"),
            "rejected": summary.get("rejected"),
            "tables": summary.get("tables"),
        },
        "checks": [
            {
                "check": o.check,
                "severity": o.severity,
                "table": o.table,
                "column": o.column,
                "expectation": o.expectation,
                "success": o.success,
                "evaluated": o.evaluated,
                "observed": o.observed,
                "unexpected_count": o.unexpected_count,
                "unexpected_percent": o.unexpected_percent,
            }
            for o in outcomes
        ],
        "report": REPORT_FILE,
    }


def _height(result: Validation, table: str) -> int | None:
    frame = result.tables.get(table)
    return None if frame is None else frame.height

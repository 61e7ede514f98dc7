"""GroupLens zip archives by URL: pinned checksums and a safe extraction.

An archive is extracted only after every member has been checked: no
absolute paths, no `..`, no links or devices, bounded member count and size
(zip bombs), everything inside the target folder. A manifest of the
extracted files' checksums lets a second fetch verify instead of downloading.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from aerec.downloads import (
    CHUNK,
    MIB,
    compare,
    copy_hashed,
    progress_bar,
    sha256_or_none,
    temp_file,
)
from aerec.errors import AerecError
from aerec.io import write_json

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"
GROUPLENS_URL_ENV = "AEREC_GROUPLENS_URL"
# Written last into an extracted archive's folder: the checksums that let a
# second fetch verify the files instead of downloading again.
MANIFEST = ".grouplens.json"


@dataclass(frozen=True)
class Archive:
    """A zip archive by URL: pinned checksums, its top folder, extraction limits.

    `root` is the single top-level folder every member lives under; it is
    stripped, so `ml-1m/ratings.dat` lands as `<target>/ratings.dat`. The
    limits bound what a hostile or broken archive can make us write.
    """

    filename: str
    root: str
    md5: str
    sha256: str | None = None
    size: int | None = None
    member_md5: dict[str, str] = field(default_factory=dict)
    max_download_bytes: int = 64 * MIB
    max_members: int = 100
    max_extract_bytes: int = 256 * MIB


def fetch_archive(
    archive: Archive, target: Path, base_url: str | None = None, progress: bool = False
) -> dict:
    """Download `archive`, verify its checksums, extract it safely into `target`.

    A second call with intact files (checked against the manifest written by the
    first) downloads nothing. Nothing is written under `target` unless the
    archive passed every check; temporary files live beside `target` and are
    removed on any failure.
    """
    target = Path(target)
    intact = _intact_files(archive, target)
    if intact is not None:
        return {"dir": str(target), "files": intact, "downloaded": False, "bytes": 0}
    url = f"{_grouplens_url(base_url).rstrip('/')}/{archive.filename}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with temp_file(target.parent, f".{archive.filename}.") as zip_path:
        digests = _download(url, zip_path, archive.max_download_bytes, progress)
        _verify_archive(archive, url, zip_path, digests)
        files = _extract(archive, zip_path, target)
        size = zip_path.stat().st_size
    return {"dir": str(target), "files": sorted(files), "downloaded": True, "bytes": size}


def _grouplens_url(base_url: str | None) -> str:
    """The GroupLens base address: argument, else $AEREC_GROUPLENS_URL, else the official one."""
    url = base_url or os.environ.get(GROUPLENS_URL_ENV) or GROUPLENS_URL
    if not re.match(r"https?://", url):
        raise AerecError(f"--url / ${GROUPLENS_URL_ENV}: '{url}' is not an http(s) address")
    return url


def _download(url: str, dest: Path, limit: int, progress: bool) -> dict[str, str]:
    """Stream `url` into `dest` (at most `limit` bytes), returning its md5 and sha256."""
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    request = urllib.request.Request(url, headers={"User-Agent": "aerec"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, dest.open("wb") as out:
            length = int(response.headers.get("Content-Length") or 0) or None
            if length is not None and length > limit:
                raise AerecError(
                    f"{url}: {length} bytes is over the {limit}-byte limit; check --url"
                )
            with progress_bar(url.rsplit("/", 1)[-1], length, progress) as advance:
                total = 0
                while chunk := response.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise AerecError(f"{url}: more than the {limit}-byte limit; check --url")
                    out.write(chunk)
                    for digest in hashes.values():
                        digest.update(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise AerecError(
            f"{url}: HTTP {exc.code} {exc.reason}; check --url / ${GROUPLENS_URL_ENV}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AerecError(
            f"{url}: download failed ({reason}); check the network or --url, "
            "or use the default dataset from the package registry"
        ) from exc
    return {algo: digest.hexdigest() for algo, digest in hashes.items()}


def _verify_archive(archive: Archive, url: str, path: Path, digests: dict[str, str]) -> None:
    """Compare the download with every pinned value: size, md5, sha256."""
    advice = "the download is corrupt or the server sends another file; retry or check --url"
    if archive.size is not None and path.stat().st_size != archive.size:
        raise AerecError(
            f"{url}: size mismatch: expected {archive.size} bytes, got {path.stat().st_size}; "
            f"{advice}"
        )
    compare(url, "md5", archive.md5, digests["md5"], advice)
    if archive.sha256 is not None:
        compare(url, "sha256", archive.sha256, digests["sha256"], advice)


def _member_path(archive: Archive, name: str) -> PurePosixPath | None:
    """The path of member `name` relative to `archive.root`; None for the root itself.

    Absolute paths, drive letters, backslashes, `..` and anything outside the
    root folder are refused before a byte is written.
    """
    unsafe = name.startswith("/") or "\\" in name or re.match(r"[A-Za-z]:", name) or "\0" in name
    parts = PurePosixPath(name).parts
    if unsafe or ".." in parts:
        raise AerecError(
            f"{archive.filename}: member '{name}' would land outside the target folder "
            "(absolute path or '..'); the archive is unsafe, nothing extracted"
        )
    if not parts or parts[0] != archive.root:
        raise AerecError(
            f"{archive.filename}: member '{name}' is not under '{archive.root}/'; "
            "unexpected archive layout, nothing extracted"
        )
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else None


def _plan_extraction(archive: Archive, zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Check every member (path, type, count, total size); return the files to extract."""
    infos = zf.infolist()
    if len(infos) > archive.max_members:
        raise AerecError(
            f"{archive.filename}: {len(infos)} members, over the limit of {archive.max_members}; "
            "the archive is unsafe, nothing extracted"
        )
    plan: list[tuple[zipfile.ZipInfo, Path]] = []
    seen: set[PurePosixPath] = set()
    total = 0
    for info in infos:
        rel = _member_path(archive, info.filename)
        # Unix mode bits live in the high half; no file type there means a plain file
        # (zips made on Windows, or by Python's writestr).
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise AerecError(
                f"{archive.filename}: member '{info.filename}' is a link or special file; "
                "the archive is unsafe, nothing extracted"
            )
        if rel is None or info.is_dir():
            continue
        if rel in seen:
            raise AerecError(f"{archive.filename}: member '{info.filename}' appears twice")
        seen.add(rel)
        total += info.file_size
        if total > archive.max_extract_bytes:
            raise AerecError(
                f"{archive.filename}: unpacks to more than {archive.max_extract_bytes} bytes; "
                "the archive is unsafe (zip bomb?), nothing extracted"
            )
        plan.append((info, Path(*rel.parts)))
    return plan


def _extract(archive: Archive, zip_path: Path, target: Path) -> list[str]:
    """Extract into a staging folder beside `target`, then move the files into `target`."""
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent)
    )
    try:
        with zipfile.ZipFile(zip_path) as zf:
            plan = _plan_extraction(archive, zf)
            sums = {
                rel.as_posix(): _extract_member(archive, zf, info, staging, rel)
                for info, rel in plan
            }
        target.mkdir(exist_ok=True)
        # The old manifest goes first: a crash while moving must not leave it vouching.
        (target / MANIFEST).unlink(missing_ok=True)
        for rel in sums:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target / rel)
        write_json(
            {"archive": archive.filename, "md5": archive.md5, "sha256": sums}, target / MANIFEST
        )
    except zipfile.BadZipFile as exc:
        raise AerecError(
            f"{archive.filename}: corrupt zip archive ({exc}); fetch it again"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(sums)


def _extract_member(
    archive: Archive, zf: zipfile.ZipFile, info: zipfile.ZipInfo, staging: Path, rel: Path
) -> str:
    """Write one member under `staging`, bounded by its declared size; return its sha256."""
    dest = staging / rel
    if not dest.resolve().is_relative_to(staging.resolve()):
        raise AerecError(f"{archive.filename}: member '{info.filename}' escapes the target folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digests = copy_hashed(zf, info, dest, info.file_size, archive.filename)
    pinned = archive.member_md5.get(rel.as_posix())
    if pinned is not None:
        compare(
            f"{archive.filename}: {info.filename}", "md5", pinned, digests["md5"], "fetch again"
        )
    return digests["sha256"]


def _intact_files(archive: Archive, target: Path) -> list[str] | None:
    """The files of an earlier extraction if the manifest and every file check out."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("md5") != archive.md5:
        return None
    sums = manifest.get("sha256")
    if not isinstance(sums, dict) or not sums:
        return None
    if any(sha256_or_none(target / rel) != digest for rel, digest in sums.items()):
        return None
    return sorted(sums)

"""Known datasets: where to get them, pinned checksums, safe extraction, what ingest reads.

Three sources. `generated` writes the built-in tiny `synthetic` dataset (no
network: smoke tests and pipeline tests run on it). `recbole-wheel` takes
MovieLens 100K from the RecBole wheel on the package registry (pip is the only
client that may reach it here), so the default dataset needs nothing but the
registry. `grouplens` downloads the official
archives by URL. Every file that lands under data/raw/<name> has been checked
against a pinned checksum, and archives are extracted only after every member
has been checked: no absolute paths, no `..`, no links or devices, and bounded
member count and size (zip bombs), all inside the target folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.io import atomic_path, write_json

if TYPE_CHECKING:
    from rich.console import Console

WHEEL = "recbole-wheel"
GROUPLENS = "grouplens"
GENERATED = "generated"
DEFAULT_DATASET = "ml-100k"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"
GROUPLENS_URL_ENV = "AEREC_GROUPLENS_URL"
# Written last into an extracted archive's folder: the checksums that let a
# second fetch verify the files instead of downloading again.
MANIFEST = ".grouplens.json"

_MIB = 1 << 20
_CHUNK = _MIB


@dataclass(frozen=True)
class WheelFile:
    """One member of a wheel, kept under its base name with a pinned sha256 and size."""

    member: str
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name


@dataclass(frozen=True)
class WheelSource:
    """A wheel on the package registry (`pip download`) and the files taken from it."""

    requirement: str
    sha256: str
    files: tuple[WheelFile, ...]


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
    max_download_bytes: int = 64 * _MIB
    max_members: int = 100
    max_extract_bytes: int = 256 * _MIB


@dataclass(frozen=True)
class Layout:
    """What `aerec ingest` reads from a fetched dataset: format, files, columns, scale."""

    format: str
    inputs: tuple[str, ...]
    scale: RatingScale
    columns: dict[str, str] | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset aerec knows, with one Layout per source it can come from."""

    name: str
    layouts: dict[str, Layout]
    wheel: WheelSource | None = None
    archive: Archive | None = None

    @property
    def default_source(self) -> str:
        return next(iter(self.layouts))


class IngestPlan(NamedTuple):
    """Arguments for ingest: format, input paths, --columns mapping, rating scale."""

    format: str
    inputs: list[Path]
    columns: dict[str, str] | None
    scale: RatingScale


_STARS = RatingScale(min=1, max=5, step=1)
_HALF_STARS = RatingScale(min=0.5, max=5, step=0.5)
_ML_CSV_COLUMNS = {
    "user": "userId",
    "item": "movieId",
    "rating": "rating",
    "timestamp": "timestamp",
}

RECBOLE_ML100K = WheelSource(
    requirement="recbole==1.2.1",
    sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    files=(
        WheelFile(
            "recbole/dataset_example/ml-100k/ml-100k.inter",
            "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            1_979_230,
        ),
        WheelFile(
            "recbole/dataset_example/ml-100k/ml-100k.user",
            "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
            22_697,
        ),
        WheelFile(
            "recbole/dataset_example/ml-100k/ml-100k.item",
            "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            66_632,
        ),
    ),
)

_RECBOLE_FILES = ("{name}.inter", "{name}.user", "{name}.item")

DATASETS: dict[str, Dataset] = {
    "ml-100k": Dataset(
        "ml-100k",
        layouts={
            WHEEL: Layout("recbole", ("ml-100k.inter", "ml-100k.user", "ml-100k.item"), _STARS),
            GROUPLENS: Layout("ml100k", ("u.data", "u.user", "u.item"), _STARS),
        },
        wheel=RECBOLE_ML100K,
        archive=Archive(
            "ml-100k.zip",
            "ml-100k",
            md5="0e33842e24a9c977be4e0107933c0723",
            max_download_bytes=16 * _MIB,
            max_extract_bytes=64 * _MIB,
        ),
    ),
    "ml-1m": Dataset(
        "ml-1m",
        layouts={
            GROUPLENS: Layout("movielens", ("ratings.dat", "users.dat", "movies.dat"), _STARS)
        },
        archive=Archive(
            "ml-1m.zip",
            "ml-1m",
            md5="c4d9eecfca2ab87c1945afe126590906",
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            max_download_bytes=16 * _MIB,
            max_extract_bytes=64 * _MIB,
        ),
    ),
    "ml-10m": Dataset(
        "ml-10m",
        layouts={GROUPLENS: Layout("movielens", ("ratings.dat", "movies.dat"), _HALF_STARS)},
        archive=Archive(
            "ml-10m.zip",
            "ml-10M100K",
            md5="ce571fd55effeba0271552578f2648bd",
            sha256="813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
            size=65_566_137,
            member_md5={"ratings.dat": "3f317698625386f66177629fa5c6b2dc"},
            max_download_bytes=128 * _MIB,
            max_extract_bytes=512 * _MIB,
        ),
    ),
    "ml-20m": Dataset(
        "ml-20m",
        layouts={GROUPLENS: Layout("csv", ("ratings.csv",), _HALF_STARS, _ML_CSV_COLUMNS)},
        archive=Archive(
            "ml-20m.zip",
            "ml-20m",
            md5="cd245b17a1ae2cc31bb14903e1204af3",
            sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
            max_download_bytes=512 * _MIB,
            max_extract_bytes=2048 * _MIB,
        ),
    ),
    "ml-25m": Dataset(
        "ml-25m",
        layouts={GROUPLENS: Layout("csv", ("ratings.csv",), _HALF_STARS, _ML_CSV_COLUMNS)},
        archive=Archive(
            "ml-25m.zip",
            "ml-25m",
            md5="6b51fb2759a8657d3bfcbfc42b592ada",
            max_download_bytes=512 * _MIB,
            max_extract_bytes=2048 * _MIB,
        ),
    ),
    "synthetic": Dataset(
        "synthetic",
        layouts={
            GENERATED: Layout(
                "recbole", tuple(f.format(name="synthetic") for f in _RECBOLE_FILES), _STARS
            )
        },
    ),
}


def get_dataset(name: str) -> Dataset:
    """The known dataset `name`; an unknown name is a user error."""
    if name not in DATASETS:
        raise AerecError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def _check_source(dataset: Dataset, source: str | None) -> str:
    """The source to use: `source` if the dataset has it, else the dataset's default."""
    if source is None:
        return dataset.default_source
    if source not in dataset.layouts:
        raise AerecError(
            f"dataset '{dataset.name}': no source '{source}'; "
            f"choose one of: {', '.join(dataset.layouts)}"
        )
    return source


def fetch(
    name: str = DEFAULT_DATASET,
    out_root: Path = Path("data/raw"),
    source: str | None = None,
    base_url: str | None = None,
    progress: bool = False,
) -> dict:
    """Fetch dataset `name` into `out_root/name`, verified; skip it if already intact.

    `source` picks `recbole-wheel` or `grouplens` (default: the dataset's first
    source); `base_url` overrides the GroupLens address (else $AEREC_GROUPLENS_URL,
    else the official one). Returns a summary: dataset, source, dir, files and
    whether anything was downloaded.
    """
    dataset = get_dataset(name)
    source = _check_source(dataset, source)
    target = Path(out_root) / dataset.name
    if source == GENERATED:
        summary = write_synthetic(target)
    elif source == WHEEL:
        assert dataset.wheel is not None
        summary = fetch_wheel(dataset.wheel, target, progress=progress)
    else:
        assert dataset.archive is not None
        summary = fetch_archive(dataset.archive, target, base_url=base_url, progress=progress)
    return {"dataset": dataset.name, "source": source, **summary}


def ingest_plan(
    name: str = DEFAULT_DATASET, out_root: Path = Path("data/raw"), source: str | None = None
) -> IngestPlan:
    """The ingest format and input paths of a fetched dataset (plus columns and scale).

    With no `source`, the first source whose files are all present wins,
    the default source first. Missing files are a user error that says to fetch.
    """
    dataset = get_dataset(name)
    target = Path(out_root) / dataset.name
    candidates = [_check_source(dataset, source)] if source else list(dataset.layouts)
    for candidate in candidates:
        layout = dataset.layouts[candidate]
        paths = [target / name_ for name_ in layout.inputs]
        if all(path.is_file() for path in paths):
            return IngestPlan(layout.format, paths, layout.columns, layout.scale)
    wanted = dataset.layouts[candidates[0]].inputs
    raise AerecError(
        f"{target}: dataset '{dataset.name}' is not fetched (expected {', '.join(wanted)}); "
        f"run `aerec fetch {dataset.name} --out {out_root}` first"
    )


# --- the built-in synthetic dataset ----------------------------------------------------------


def write_synthetic(
    target: Path, n_users: int = 120, n_items: int = 80, per_user: int = 25, seed: int = 0
) -> dict:
    """Write a small MovieLens-like dataset as RecBole atomic files, deterministically.

    Ratings come from a rank-3 latent model plus noise, rounded to 1..5 stars,
    so models have real structure to learn; users carry age/gender/occupation
    and items a year and genres, as ml-100k does. Same arguments, same bytes.
    `generated` in the summary says whether any file had to be (re)written.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.7  # a long tail, as real catalogues
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    timestamp = 880_000_000
    for u in range(n_users):
        chosen = rng.choice(n_items, size=per_user, replace=False, p=popularity / popularity.sum())
        for i in chosen:
            score = 3.4 + 0.8 * users[u] @ items[i] + rng.normal(scale=0.4)
            timestamp += int(rng.integers(1, 5000))
            lines.append(f"{u + 1}\t{i + 1}\t{int(np.clip(np.rint(score), 1, 5))}\t{timestamp}")
    genders, jobs = ("F", "M"), ("student", "engineer", "artist", "doctor", "other")
    user_lines = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    user_lines += [
        f"{u + 1}\t{rng.integers(18, 70)}\t{genders[u % 2]}\t{jobs[u % 5]}\t{10000 + u}"
        for u in range(n_users)
    ]
    genres = ("Action", "Comedy", "Drama", "Romance", "Thriller")
    item_lines = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    item_lines += [
        f"{i + 1}\tMovie {i + 1}\t{1950 + i % 50}\t{genres[i % 5]} {genres[(i * 3 + 1) % 5]}"
        for i in range(n_items)
    ]
    files, written = [], False
    for suffix, content in (("inter", lines), ("user", user_lines), ("item", item_lines)):
        name = f"{target.name}.{suffix}"
        data = ("\n".join(content) + "\n").encode("utf-8")
        files.append(name)
        # Same arguments, same bytes: an intact file is left alone, and the
        # summary can say truthfully whether anything was written.
        if _read_or_none(target / name) == data:
            continue
        with atomic_path(target / name) as tmp:
            tmp.write_bytes(data)
        written = True
    return {
        "dir": str(target),
        "files": files,
        "downloaded": False,
        "generated": written,
        "bytes": 0,
    }


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


# --- the RecBole wheel ---------------------------------------------------------------------


def fetch_wheel(wheel: WheelSource, target: Path, progress: bool = False) -> dict:
    """Take `wheel.files` out of the wheel into `target`; do nothing if they are intact.

    The wheel comes from `python -m pip download`, so pip's own configuration
    decides which registry is asked. Its sha256 and every member's are checked.
    """
    files = [wf.name for wf in wheel.files]
    if all(_sha256_or_none(target / wf.name) == wf.sha256 for wf in wheel.files):
        return {"dir": str(target), "files": files, "downloaded": False, "bytes": 0}
    with tempfile.TemporaryDirectory(prefix="aerec-wheel-") as tmp:
        path = _pip_download(wheel.requirement, Path(tmp), progress)
        _verify(path.name, path, "sha256", wheel.sha256, _wheel_advice(wheel))
        with zipfile.ZipFile(path) as zf:
            for wf in wheel.files:
                _extract_wheel_file(zf, path.name, wf, target, _wheel_advice(wheel))
        size = path.stat().st_size
    return {"dir": str(target), "files": files, "downloaded": True, "bytes": size}


def _wheel_advice(wheel: WheelSource) -> str:
    return (
        f"the registry does not serve the pinned {wheel.requirement}; check pip's index "
        f"(`{Path(sys.executable).name} -m pip config list`) or use --source grouplens"
    )


def _pip_download(requirement: str, dest: Path, progress: bool) -> Path:
    """Download one wheel with pip into `dest` and return its path."""
    cmd = [
        sys.executable, "-m", "pip", "download", requirement,
        "--no-deps", "--only-binary=:all:", "--no-input", "--dest", str(dest),
    ]  # fmt: skip
    with _status(f"pip download {requirement}", progress):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise AerecError(
                f"{requirement}: pip download timed out; check the package registry is reachable"
            ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise AerecError(
            f"{requirement}: pip download failed ({last}); check that the package registry "
            "is reachable (`pip config list`), or use --source grouplens"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise AerecError(f"{requirement}: pip download gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def _extract_wheel_file(
    zf: zipfile.ZipFile, wheel_name: str, wf: WheelFile, target: Path, advice: str
) -> None:
    """Copy one pinned member out of a verified wheel, checking size and sha256."""
    try:
        info = zf.getinfo(wf.member)
    except KeyError as exc:
        raise AerecError(f"{wheel_name}: member {wf.member} is missing; {advice}") from exc
    if info.file_size != wf.size:
        raise AerecError(
            f"{wheel_name}: {wf.member} is {info.file_size} bytes, expected {wf.size}; {advice}"
        )
    with atomic_path(target / wf.name) as tmp:
        digests = _copy_hashed(zf, info, tmp, wf.size, wheel_name)
        _compare(f"{wheel_name}: {wf.member}", "sha256", wf.sha256, digests["sha256"], advice)


# --- GroupLens archives --------------------------------------------------------------------


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
    with _temp_file(target.parent, f".{archive.filename}.") as zip_path:
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
            with _progress_bar(url.rsplit("/", 1)[-1], length, progress) as advance:
                total = 0
                while chunk := response.read(_CHUNK):
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
    _compare(url, "md5", archive.md5, digests["md5"], advice)
    if archive.sha256 is not None:
        _compare(url, "sha256", archive.sha256, digests["sha256"], advice)


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
    digests = _copy_hashed(zf, info, dest, info.file_size, archive.filename)
    pinned = archive.member_md5.get(rel.as_posix())
    if pinned is not None:
        _compare(
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
    if any(_sha256_or_none(target / rel) != digest for rel, digest in sums.items()):
        return None
    return sorted(sums)


# --- helpers -------------------------------------------------------------------------------


def _copy_hashed(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int, label: str
) -> dict[str, str]:
    """Stream a member to `dest`, refusing more than `limit` bytes; return md5 and sha256."""
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    written = 0
    with zf.open(info) as src, dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise AerecError(f"{label}: member '{info.filename}' unpacks past its size")
            out.write(chunk)
            for digest in hashes.values():
                digest.update(chunk)
    return {algo: digest.hexdigest() for algo, digest in hashes.items()}


def _verify(label: str, path: Path, algo: str, expected: str, advice: str) -> None:
    with path.open("rb") as handle:
        got = hashlib.file_digest(handle, algo).hexdigest()
    _compare(label, algo, expected, got, advice)


def _compare(label: str, algo: str, expected: str, got: str, advice: str) -> None:
    if got != expected:
        raise AerecError(f"{label}: {algo} mismatch: expected {expected}, got {got}; {advice}")


def _sha256_or_none(path: Path) -> str | None:
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def _temp_file(directory: Path, prefix: str) -> Iterator[Path]:
    """A temporary file in `directory`, removed on exit whatever happens."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _terminal(show: bool) -> Console | None:
    """A rich console on stderr when progress is wanted and stderr is a terminal.

    In logs and pipes (DVC, CI) a progress display only adds noise to stderr.
    """
    if not show:
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


@contextlib.contextmanager
def _status(message: str, show: bool) -> Iterator[None]:
    """A rich spinner on stderr while `message` runs, when `show` and on a terminal."""
    console = _terminal(show)
    if console is None:
        yield
        return
    with console.status(message):
        yield


@contextlib.contextmanager
def _progress_bar(label: str, total: int | None, show: bool) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`: a rich download bar on stderr when `show`, else a no-op."""
    console = _terminal(show)
    if console is None:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)

"""Known datasets: the catalogue, where each comes from, and what ingest reads.

Three sources. `generated` writes the built-in tiny `synthetic` dataset (no
network: smoke tests and pipeline tests run on it; aerec.synthetic).
`recbole-wheel` takes MovieLens 100K from the RecBole wheel on the package
registry (pip is the only client that may reach it here; aerec.wheels), so
the default dataset needs nothing but the registry. `grouplens` downloads
the official archives by URL (aerec.archives). Every file that lands under
data/fetched/<name> has been checked against a pinned checksum, and archives are
extracted only after every member has been checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from aerec.archives import GROUPLENS_URL, GROUPLENS_URL_ENV, MANIFEST, Archive, fetch_archive
from aerec.config import RatingScale
from aerec.downloads import MIB
from aerec.errors import AerecError
from aerec.synthetic import write_synthetic
from aerec.wheels import WheelFile, WheelSource, fetch_wheel

# Names callers have always imported from here, whichever module now holds them.
__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "GENERATED",
    "GROUPLENS",
    "GROUPLENS_URL",
    "GROUPLENS_URL_ENV",
    "MANIFEST",
    "RECBOLE_ML100K",
    "WHEEL",
    "Archive",
    "Dataset",
    "IngestPlan",
    "Layout",
    "WheelFile",
    "WheelSource",
    "fetch",
    "fetch_archive",
    "fetch_wheel",
    "get_dataset",
    "ingest_plan",
    "write_synthetic",
]

WHEEL = "recbole-wheel"
GROUPLENS = "grouplens"
GENERATED = "generated"
DEFAULT_DATASET = "ml-100k"


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
            max_download_bytes=16 * MIB,
            max_extract_bytes=64 * MIB,
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
            max_download_bytes=16 * MIB,
            max_extract_bytes=64 * MIB,
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
            max_download_bytes=128 * MIB,
            max_extract_bytes=512 * MIB,
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
            max_download_bytes=512 * MIB,
            max_extract_bytes=2048 * MIB,
        ),
    ),
    "ml-25m": Dataset(
        "ml-25m",
        layouts={GROUPLENS: Layout("csv", ("ratings.csv",), _HALF_STARS, _ML_CSV_COLUMNS)},
        archive=Archive(
            "ml-25m.zip",
            "ml-25m",
            md5="6b51fb2759a8657d3bfcbfc42b592ada",
            max_download_bytes=512 * MIB,
            max_extract_bytes=2048 * MIB,
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
    out_root: Path = Path("data/fetched"),
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
    name: str = DEFAULT_DATASET, out_root: Path = Path("data/fetched"), source: str | None = None
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

"""Where a dataset's raw files are: a fetched known dataset or the user's own files.

params.yaml names the dataset. A known one (`dataset.name` in the catalogue,
`dataset.path` left at FETCH_ROOT) is fetched into FETCH_ROOT/<name> by the
fetch stage and read as the catalogue says. A local one is the user's file
or folder at `dataset.path` (plus `dataset.files` inside a folder), read as
`dataset.format`. dvc.yaml's ingest stage depends on `${dataset.path}`, so
DVC hashes the user's files in place: editing one re-runs ingest and what
follows, and no stage ever writes, moves or deletes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aerec import datasets
from aerec.config import DatasetConfig, is_local
from aerec.datasets import IngestPlan
from aerec.errors import AerecError
from aerec.io import write_json

# What fetch writes for a local dataset: its output folder must exist, and
# this says why nothing else is in it.
LOCAL_NOTE = "local.json"


def unknown_dataset(name: str) -> AerecError:
    """The one line for a name that is neither known nor given a path."""
    return AerecError(
        f"params.yaml: dataset.name '{name}' is not a known dataset "
        f"({', '.join(datasets.DATASETS)}); for your own data set dataset.path to its file or "
        "folder and dataset.format to its format, e.g. path: data/raw/my-data, "
        "format: amazon-reviews (formats: aerec ingest --help)"
    )


def fetch(
    dataset: DatasetConfig, out_root: Path, base_url: str | None = None, progress: bool = False
) -> dict[str, Any]:
    """Fetch a known dataset into out_root/<name>; for a local one, write only a note there.

    The note is the fetch stage's whole output for a local dataset: the user's
    files stay where they are (ingest reads them from dataset.path).
    """
    if not is_local(dataset):
        if dataset.name not in datasets.DATASETS:
            raise unknown_dataset(dataset.name)
        return datasets.fetch(dataset.name, out_root, base_url=base_url, progress=progress)
    target = Path(out_root) / dataset.name
    note = {"dataset": dataset.name, "local": True, "path": dataset.path}
    write_json(note, target / LOCAL_NOTE)
    return {
        "dataset": dataset.name,
        "source": f"local {dataset.path}",
        "dir": str(target),
        "files": [LOCAL_NOTE],
        "downloaded": False,
        "local": True,
    }


def ingest_plan(dataset: DatasetConfig, fetch_root: Path) -> IngestPlan:
    """Format, input paths, column map and scale ingest uses for `dataset`.

    A known dataset takes the catalogue's layout (a dataset.format given must
    be the catalogue's; dataset.scale overrides its scale). A local one needs
    dataset.format, unless its name is a known dataset's, whose layout then
    supplies format, columns and scale.
    """
    from aerec.readers import FORMATS

    known = datasets.DATASETS.get(dataset.name)
    if not is_local(dataset):
        if known is None:
            raise unknown_dataset(dataset.name)
        plan = datasets.ingest_plan(dataset.name, Path(fetch_root))
        if dataset.format is not None and dataset.format != plan.format:
            raise AerecError(
                f"params.yaml: dataset.format '{dataset.format}' is not how aerec reads the "
                f"known dataset '{dataset.name}' ({plan.format}); leave dataset.format null, "
                "or set dataset.path to read your own copy"
            )
        return plan._replace(
            columns=dataset.columns or plan.columns, scale=dataset.scale or plan.scale
        )
    layout = known.layouts[known.default_source] if known is not None else None
    fmt = dataset.format or (layout.format if layout is not None else None)
    if fmt is None:
        raise AerecError(
            f"params.yaml: dataset '{dataset.name}' has dataset.path but no dataset.format; "
            f"set dataset.format to one of: {', '.join(FORMATS)}"
        )
    if fmt not in FORMATS:
        raise AerecError(
            f"params.yaml: dataset.format '{fmt}' is not a format; "
            f"choose one of: {', '.join(FORMATS)}"
        )
    same = layout is not None and layout.format == fmt
    columns = dataset.columns or (layout.columns if same else None)
    scale = dataset.scale or (layout.scale if same else None)
    root = Path(dataset.path)
    if dataset.files:
        if not root.is_dir():
            raise AerecError(
                f"params.yaml: dataset.path '{dataset.path}' is not a folder, but dataset.files "
                "names files inside one; give the folder, or drop dataset.files"
            )
        inputs = [root / name for name in dataset.files]
    else:
        inputs = [root]
    for path in inputs:
        if not path.exists():
            raise AerecError(
                f"params.yaml: dataset.path: {path}: no such file or folder; "
                "check dataset.path (relative to the project folder, or absolute)"
            )
    return IngestPlan(fmt, inputs, columns, scale)


def params_plan(dataset: DatasetConfig, raw_root: Path | None) -> IngestPlan:
    """`aerec ingest`'s plan from params: the whole dataset (with `raw_root`, the root
    fetch wrote known datasets to) or, reading the inputs given, only its format."""
    if raw_root is not None:
        return ingest_plan(dataset, raw_root)
    if dataset.format is None:
        raise AerecError("ingest: give --format (params.yaml sets no dataset.format)")
    return IngestPlan(dataset.format, [], dataset.columns, dataset.scale)

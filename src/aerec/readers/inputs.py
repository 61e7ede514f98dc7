"""The input paths of `aerec ingest`: files, folders and glob patterns, resolved to files.

A user names a dataset's files in whichever way is at hand: the files
themselves, the folder they were unpacked into, or a pattern (a shell that
did not expand it, or `dataset.path` in params.yaml). Each becomes a list of
files before a reader sees it:

- a file is kept as it is;
- a folder stands for the files of the format in it (`FolderLayout` per
  format: e.g. Sephora's reviews_*.csv and product_info.csv), each name plain
  or gzipped, hidden files skipped, in name order;
- a path that does not exist but holds `*`, `?` or `[` is a glob pattern: its
  matches, in name order, each resolved again (a matching folder gives its files).

Anything that resolves to no file is one AerecError line: what was given,
where, and what to give instead. A file named twice is read once.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from aerec.errors import AerecError

_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class FolderLayout:
    """Which files of a folder belong to a format: at least one `required` match.

    When a file matching `only` is present, that file alone is taken (a
    MovieLens 20M folder holds ratings.csv beside movies.csv, tags.csv...).
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    only: tuple[str, ...] = ()

    def describe(self) -> str:
        names = " or ".join(self.required)
        return names + (f" [+ {', '.join(self.optional)}]" if self.optional else "")


_CSV = ("*.csv",)
FOLDERS: dict[str, FolderLayout] = {
    "movielens": FolderLayout(("ratings.dat",), ("users.dat", "movies.dat")),
    "ml100k": FolderLayout(("u.data",), ("u.user", "u.item")),
    "recbole": FolderLayout(("*.inter",), ("*.user", "*.item")),
    "amazon-2014": FolderLayout(_CSV),
    "amazon-2018": FolderLayout(_CSV),
    "amazon-2023": FolderLayout(_CSV),
    "amazon-reviews": FolderLayout(("*.json", "*.jsonl", "*.ndjson")),
    "sephora": FolderLayout(("reviews_*.csv",), ("product_info.csv",)),
    "sephora-recommended": FolderLayout(("reviews_*.csv",), ("product_info.csv",)),
    "cil": FolderLayout(_CSV),
    "csv": FolderLayout(
        ("*.csv", "*.tsv", "*.parquet", "*.pq"), only=("ratings.csv", "ratings.parquet")
    ),
}


def resolve(fmt: str, paths: list[Path], expected: str) -> list[Path]:
    """Every input as files of format `fmt`; `expected` describes the format for errors."""
    if not paths:
        raise AerecError(f"ingest: no input given; expected {expected}")
    layout = FOLDERS.get(fmt, FolderLayout(("*",)))
    out: list[Path] = []
    for path in paths:
        for file in _resolve_one(Path(path), fmt, layout, expected):
            if file not in out:
                out.append(file)
    return out


def _resolve_one(path: Path, fmt: str, layout: FolderLayout, expected: str) -> list[Path]:
    if path.is_dir():
        return folder_files(path, fmt, layout)
    if path.exists():
        return [path]
    if any(c in str(path) for c in _GLOB_CHARS):
        matches = sorted(Path(m) for m in glob.glob(str(path)))
        if not matches:
            raise AerecError(
                f"{path}: no file matches this pattern; expected {expected}; "
                "check the pattern, or give the files or their folder"
            )
        return [f for m in matches for f in _resolve_one(m, fmt, layout, expected)]
    raise AerecError(f"{path}: no such file or folder; expected {expected}")


def folder_files(folder: Path, fmt: str, layout: FolderLayout) -> list[Path]:
    """The files of `folder` that `layout` names (plain or .gz), in name order."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    only = [p for p in files if _matches(p, layout.only)]
    if only:
        return only[:1]
    required = [p for p in files if _matches(p, layout.required)]
    if not required:
        raise AerecError(
            f"{folder}: folder without {layout.describe()} (plain or .gz); a folder given to "
            f"--format {fmt} must hold them; give the files themselves or the right folder"
        )
    return [p for p in files if p in required or _matches(p, layout.optional)]


def _matches(path: Path, patterns: tuple[str, ...]) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return any(fnmatch(name, pattern) for pattern in patterns)

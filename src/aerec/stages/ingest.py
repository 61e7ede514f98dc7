"""Ingest: raw rating files of a known format -> the canonical tables and a summary.

Writes into the output folder ratings.parquet (canonical, zstd, input order),
rejects.parquet (source, line, reason, raw), users.parquet / items.parquet
when the format carries side information, and summary.json. Everything is
read and checked before the first file is written, so a bad input (missing
path, empty file, a file of another format) leaves the folder untouched;
each file is then replaced atomically. Side tables a previous run left
behind are removed when this input has none, so they never describe other
data.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import ValidationError

from aerec import schema as s
from aerec.config import RatingScale, describe_error
from aerec.errors import AerecError
from aerec.io import atomic_folder, write_json, write_parquet
from aerec.readers import get_format, get_reader
from aerec.readers.base import ReadResult, TableCount, rating_count
from aerec.readers.inputs import resolve

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

# More distinct rating values than this (a continuous scale) are binned.
_MAX_HISTOGRAM_VALUES = 100
_HISTOGRAM_BINS = 10


def run(
    fmt: str,
    inputs: list[Path],
    out_dir: Path,
    scale: RatingScale | None = None,
    columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Read `inputs` as format `fmt`, write the ingest outputs to `out_dir`, return the summary.

    `scale` defaults to the format's own; `columns` (canonical key -> file
    column) is required by, and only allowed for, the `csv` format. An input
    may be a file, a folder of the format's files or a glob pattern
    (`aerec.readers.inputs`).
    """
    spec = get_format(fmt)
    scale = scale or spec.scale
    inputs = [Path(p) for p in inputs]
    files = resolve(fmt, inputs, spec.help)
    check_inputs(files, spec.help)
    _check_out(Path(out_dir))
    result = _read(fmt, files, scale, columns)
    summary = summarize(fmt, inputs, scale, result)
    with atomic_folder(Path(out_dir), "ingest", ("*.parquet", "summary.json")) as tmp:
        _write(result, summary, tmp)
    return summary


def _check_out(out_dir: Path) -> None:
    """The output folder is a folder or can become one: no file in the way."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise AerecError(
                f"--out {out_dir}: {folder} is a file, not a folder; give an output folder"
            )
        if folder.exists():
            return


def check_inputs(inputs: list[Path], expected: str) -> None:
    """Every input exists; files are not empty. `expected` describes the format."""
    if not inputs:
        raise AerecError(f"ingest: no input given; expected {expected}")
    for path in inputs:
        if not path.exists():
            raise AerecError(f"{path}: no such file or folder; expected {expected}")
        if path.is_file() and path.stat().st_size == 0:
            raise AerecError(f"{path}: empty file; expected {expected}")


def _read(
    fmt: str, inputs: list[Path], scale: RatingScale, columns: dict[str, str] | None
) -> ReadResult:
    reader = get_reader(fmt)
    takes_columns = "columns" in inspect.signature(reader).parameters
    if takes_columns and not columns:
        raise AerecError(
            f"--format {fmt}: needs --columns user=<col>,item=<col>,rating=<col>[,timestamp=<col>]"
        )
    if columns and not takes_columns:
        raise AerecError(f"--columns: only for --format csv, not {fmt}; drop --columns")
    result = reader(inputs, scale, columns=columns) if takes_columns else reader(inputs, scale)
    if result.rows_read != result.ratings.height + result.rejects.height:
        raise RuntimeError(
            f"{fmt} reader: rows_read {result.rows_read} != accepted {result.ratings.height} "
            f"+ rejected {result.rejects.height}"
        )
    _check_tables(fmt, result)
    return result


def _check_tables(fmt: str, result: ReadResult) -> None:
    """Each table adds up, its rejects are those of its files, and they are all the rejects."""
    tables = _table_counts(result)
    by_source = dict(result.rejects.get_column(s.SOURCE).value_counts().iter_rows())
    for name, t in tables.items():
        of_files = sum(by_source.get(source, 0) for source in t.sources)
        if t.rows_read != t.accepted + t.rejected or of_files != t.rejected:
            raise RuntimeError(f"{fmt} reader: table {name} does not add up: {t}")
    if sum(t.rejected for t in tables.values()) != result.rejects.height:
        raise RuntimeError(f"{fmt} reader: tables' rejects != {result.rejects.height}")


def _table_counts(result: ReadResult) -> dict[str, TableCount]:
    return result.tables or {"ratings": rating_count(result)}


def summarize(
    fmt: str, inputs: list[Path], scale: RatingScale, result: ReadResult
) -> dict[str, Any]:
    """The ingest summary (summary.json): counts, reasons, histogram, time span, per file."""
    ratings = result.ratings
    span = ratings.select(
        pl.col(s.TIMESTAMP).min().alias("min"), pl.col(s.TIMESTAMP).max().alias("max")
    ).row(0, named=True)
    tables = _tables(result)
    rating_table = next(iter(tables.values()))
    return {
        "format": fmt,
        "inputs": [str(p) for p in inputs],
        "scale": scale.model_dump(),
        # The rating table's records; side tables' are under "tables".
        "rows_read": rating_table["rows_read"],
        "accepted": ratings.height,
        "rejected": rating_table["rejected"],
        "rejected_by_reason": rating_table["rejected_by_reason"],
        "tables": tables,
        # unique().len() is exact and, on 10M unsorted ids, ~3x faster than n_unique().
        "users": ratings.get_column(s.USER_ID).unique().len(),
        "items": ratings.get_column(s.ITEM_ID).unique().len(),
        "rating_histogram": rating_histogram(ratings.get_column(s.RATING)),
        "time_span": span,
        "files": _per_file(result),
        "side": {
            "users": None if result.users is None else result.users.height,
            "items": None if result.items is None else result.items.height,
        },
    }


def _tables(result: ReadResult) -> dict[str, dict[str, Any]]:
    """Per table read (the rating table first): read = accepted + rejected, reasons, recoded."""
    out = {}
    for name, t in _table_counts(result).items():
        rejects = result.rejects.filter(pl.col(s.SOURCE).is_in(list(t.sources)))
        by_reason = dict(rejects.get_column(s.REASON).value_counts().iter_rows())
        out[name] = {
            "rows_read": t.rows_read,
            "accepted": t.accepted,
            "rejected": t.rejected,
            "rejected_by_reason": {r: by_reason[r] for r in s.REJECT_REASONS if r in by_reason},
            "read_as_windows_1252": t.windows_1252,
        }
    return out


def rating_histogram(ratings: pl.Series) -> dict[str, int]:
    """Ratings per value ('3.5': n), in value order; a continuous scale in 10 bins."""
    counts = ratings.value_counts(sort=False).sort(ratings.name)
    if counts.height <= _MAX_HISTOGRAM_VALUES:
        return {_label(v): n for v, n in counts.iter_rows()}
    low, high = float(ratings.min()), float(ratings.max())
    width = (high - low) / _HISTOGRAM_BINS
    index = ((ratings.cast(pl.Float64) - low) / width).floor().clip(0, _HISTOGRAM_BINS - 1)
    binned = index.value_counts(sort=False).sort(index.name)
    return {
        f"[{_label(low + i * width)}, {_label(low + (i + 1) * width)})": n
        for i, n in ((int(i), n) for i, n in binned.iter_rows())
    }


def _label(value: float) -> str:
    return str(round(float(value), 6))


def _per_file(result: ReadResult) -> dict[str, dict[str, int]]:
    """rows_read / accepted / rejected per input file; accepted = read - rejected."""
    rejected = dict(result.rejects.get_column(s.SOURCE).value_counts().iter_rows())
    return {
        source: {
            "rows_read": rows,
            "accepted": rows - rejected.get(source, 0),
            "rejected": rejected.get(source, 0),
        }
        for source, rows in result.rows_by_source.items()
    }


def _write(result: ReadResult, summary: dict[str, Any], out_dir: Path) -> None:
    """Write every output atomically; summary.json last, as the mark of a complete run."""
    (out_dir / s.INGEST_SUMMARY_FILE).unlink(missing_ok=True)
    write_parquet(result.ratings, out_dir / s.RATINGS_FILE)
    write_parquet(result.rejects, out_dir / s.REJECTS_FILE)
    for table, name in ((result.users, s.USERS_FILE), (result.items, s.ITEMS_FILE)):
        if table is None:
            (out_dir / name).unlink(missing_ok=True)
        else:
            write_parquet(table, out_dir / name)
    write_json(summary, out_dir / s.INGEST_SUMMARY_FILE)


def parse_scale(text: str) -> RatingScale:
    """'MIN:MAX:STEP' (or 'MIN:MAX', step 1) as a RatingScale; bad text is one AerecError line."""
    advice = "give MIN:MAX:STEP, e.g. 0.5:5:0.5"
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise AerecError(
            f"--scale {text!r}: expected MIN:MAX or MIN:MAX:STEP, got {len(parts)} numbers; "
            f"{advice}"
        )
    numbers = []
    for part in parts:
        try:
            numbers.append(float(part))
        except ValueError:
            raise AerecError(f"--scale {text!r}: {part!r} is not a number; {advice}") from None
    try:
        return RatingScale(min=numbers[0], max=numbers[1], step=numbers[2] if numbers[2:] else 1)
    except ValidationError as exc:
        raise AerecError(f"--scale {text!r}: {describe_error(exc)}; {advice}") from None


def parse_columns(text: str) -> dict[str, str]:
    """'user=a,item=b,rating=c' as a dict; a part without '=' is a user error."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise AerecError(
                f"--columns {text!r}: {part!r} is not KEY=COLUMN; "
                "give user=COL,item=COL,rating=COL[,timestamp=COL]"
            )
        out[key.strip()] = value.strip()
    return out


def render(summary: dict[str, Any], out_dir: str | Path) -> Group:
    """The one-screen summary the CLI prints: counts, reasons, histogram, time span."""
    from rich.console import Group
    from rich.table import Table

    span = summary["time_span"]
    when = "unknown"
    if span["min"] is not None:
        when = f"{_date(span['min'])} .. {_date(span['max'])}"
    tables = summary.get("tables") or {"ratings": summary}
    (rating_name, rating_table), *side_tables = tables.items()
    noun = "rows" if rating_name == "ratings" else rating_name
    head = (
        f"[bold]ingest[/] {summary['format']}: {_counts(rating_table, noun)}\n"
        f"  {summary['users']:,} users, {summary['items']:,} items; time span {when}"
    )
    side = ", ".join(f"{k} table {v:,} rows" for k, v in summary["side"].items() if v is not None)
    lines = [head + (f"; {side}" if side else "")]
    lines.extend(f"  {name}: {_counts(table, 'records')}" for name, table in side_tables)
    reasons = [
        (name, reason, n)
        for name, table in tables.items()
        for reason, n in table["rejected_by_reason"].items()
    ]
    if reasons:
        reason_table = Table("table", "reject reason", "rows", box=None, padding=(0, 2))
        for name, reason, n in reasons:
            reason_table.add_row(name, reason, f"{n:,}")
        lines.append(reason_table)
    lines.append(_histogram_table(summary["rating_histogram"], summary["accepted"]))
    lines.append(f"  -> {out_dir}")
    return Group(*lines)


def _counts(table: dict[str, Any], noun: str) -> str:
    """'5,000 reviews read, 4,998 accepted, 2 rejected[, 3 read as Windows-1252]'."""
    rejected = table["rejected"]
    red = ("[red]", "[/]") if rejected else ("", "")
    text = (
        f"{table['rows_read']:,} {noun} read, [green]{table['accepted']:,} accepted[/], "
        f"{red[0]}{rejected:,} rejected{red[1]}"
    )
    recoded = table.get("read_as_windows_1252", 0)
    return text + (f", {recoded:,} read as Windows-1252" if recoded else "")


def _histogram_table(histogram: dict[str, int], total: int) -> Table:
    from rich.table import Table

    table = Table("rating", "rows", "", box=None, padding=(0, 2))
    widest = max(histogram.values(), default=0)
    for value, n in histogram.items():
        bar = "█" * round(30 * n / widest) if widest else ""
        share = f"{n / total:.1%}" if total else ""
        table.add_row(value, f"{n:,}", f"{bar} {share}")
    return table


def _date(seconds: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d")

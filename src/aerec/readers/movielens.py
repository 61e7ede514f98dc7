"""MovieLens '::' files (ml-1m, ml-10m): ratings.dat, and users.dat / movies.dat when given.

ratings.dat: `UserID::MovieID::Rating::Timestamp`, no header, half stars in
ml-10m. users.dat: `UserID::Gender::Age::Occupation::Zip-code` (occupation
codes become the names of the GroupLens README, as in ml-100k's u.user).
movies.dat: `MovieID::Title::Genres`, Latin-1, titles contain ':' and end in
'(year)'; genres become a list.

Files are told apart by name (ratings.dat, users.dat, movies.dat, also
gzipped), otherwise by their first line's field count (4, 5, 3). A folder
stands for the three files inside it.

Ratings are read on a fast path: polars' CSV reader splits every line on ':'
(a one-byte separator) and a cheap scan of the raw lines picks out the lines
that do not have the plain `a::b::c::d` shape (stray colons, whitespace, a BOM,
undecodable bytes, wrong field counts). Only those few go through the
general `split_fields('::')`, so both paths give the same records; the text
of a fast-path line is rebuilt from its four fields, and only when rejected.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    FIELDS_OK,
    ReadResult,
    canonicalize,
    check_head,
    expand_folder,
    plain_files,
    raw_lines,
    scan_lines,
    split_fields,
)
from aerec.readers.side import Layout, SideFile, read_side, title_year, with_side

SEPARATOR = "::"
RATINGS, USERS, MOVIES = "ratings.dat", "users.dat", "movies.dat"
_RATING_NAMES: list[str | None] = [s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP]
_RATINGS_LAYOUT = "MovieLens ratings 'UserID::MovieID::Rating::Timestamp'"
# A plain line: four '::'-separated fields, a non-empty first one, no other
# ':', no whitespace (nothing to strip), no U+FFFD (an undecodable byte), no BOM.
_PLAIN_FIELD = r"[^:\s\x{FEFF}\x{FFFD}]"
_PLAIN_LINE = rf"^{_PLAIN_FIELD}+::{_PLAIN_FIELD}*::{_PLAIN_FIELD}*::{_PLAIN_FIELD}*$"
# The ':'-split fields of a plain line: a, '', b, '', c, '', d.
_COLON_FIELDS = [f"_f{i}" for i in range(7)]

# GroupLens README of ml-1m: occupation codes.
OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
USERS_SCHEMA: dict[str, pl.DataType] = {
    s.USER_ID: pl.String(),
    "gender": pl.String(),
    "age": pl.Int64(),
    "occupation": pl.String(),
    "zip": pl.String(),
}
ITEMS_SCHEMA: dict[str, pl.DataType] = {
    s.ITEM_ID: pl.String(),
    "title": pl.String(),
    "genres": pl.List(pl.String()),
    "year": pl.Int64(),
}


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read MovieLens '::' ratings, with users.dat / movies.dat side tables when given."""
    files = expand_folder(paths, (RATINGS, USERS, MOVIES), "a MovieLens folder")
    with plain_files(files) as plain:
        kinds = [_kind(path, local) for path, local in zip(files, plain, strict=True)]
        rating_files = [
            (p, lo) for p, lo, k in zip(files, plain, kinds, strict=True) if k == RATINGS
        ]
        if not rating_files:
            raise AerecError(
                f"{', '.join(map(str, paths))}: no MovieLens ratings file among the inputs; "
                f"expected {RATINGS} ({_RATINGS_LAYOUT})"
            )
        records = []
        for path, local in rating_files:
            frame = ratings_records(local, path.name)
            check_head(frame, path, _RATINGS_LAYOUT, scale)
            records.append(frame)
        # Plain lines have no whitespace and split_fields strips the others.
        result = canonicalize(records, scale, raw_text=raw_text(), stripped=True)
        side = {
            kind: [
                SideFile(lo, p) for p, lo, k in zip(files, plain, kinds, strict=True) if k == kind
            ]
            for kind in (USERS, MOVIES)
        }
        users = read_side(side[USERS], USERS_LAYOUT) if side[USERS] else None
        items = read_side(side[MOVIES], MOVIES_LAYOUT) if side[MOVIES] else None
    return with_side(result, users, items)


def _kind(path: Path, local: Path) -> str:
    """ratings.dat, users.dat or movies.dat: by name, else by the first line's fields."""
    name = path.name.removesuffix(".gz").lower()
    if name in (RATINGS, USERS, MOVIES):
        return name
    with local.open("rb") as fh:
        first = next((line for line in fh if line.strip()), b"")
    n_fields = len(first.split(SEPARATOR.encode()))
    return {5: USERS, 3: MOVIES}.get(n_fields, RATINGS)


def ratings_records(local: Path, source: str) -> pl.LazyFrame:
    """Raw rating records of a '::' ratings file (see the module doc for the fast path).

    `raw` is null on fast-path lines; `raw_text()` rebuilds it.
    """
    lines = raw_lines(local)
    odd = (
        lines.filter(pl.col(s.RAW).str.len_bytes() > 0)
        .filter(~pl.col(s.RAW).str.contains(_PLAIN_LINE))
        .select(pl.col(s.LINE).cast(pl.Int64))
        .collect(engine="streaming")
        .get_column(s.LINE)
    )
    fields = pl.scan_csv(
        local,
        has_header=False,
        separator=":",
        quote_char=None,
        schema=dict.fromkeys(_COLON_FIELDS, pl.String),
        encoding="utf8-lossy",
        row_index_name=s.LINE,
        row_index_offset=1,
        truncate_ragged_lines=True,
        missing_columns="insert",
    ).with_columns(pl.col(s.LINE).cast(pl.Int64))
    # A plain line has all four fields, so a null (polars' empty field) is "".
    canonical = zip(_RATING_NAMES, _COLON_FIELDS[::2], strict=True)
    plain = fields.select(
        pl.lit(source).alias(s.SOURCE),
        s.LINE,
        pl.lit(None, dtype=pl.String).alias(s.RAW),
        *(pl.col(field).fill_null("").alias(name) for name, field in canonical),
        pl.lit(True).alias(FIELDS_OK),
    )
    # A blank line has an empty first field; a plain line never has (see _PLAIN_LINE).
    if odd.is_empty():
        return plain.filter(pl.col(s.USER_ID) != "")
    slow = split_fields(
        scan_lines(local, source).filter(pl.col(s.LINE).is_in(odd.implode())),
        SEPARATOR,
        _RATING_NAMES,
    ).select(*plain.collect_schema().names())
    return _merge_in_line_order(plain, slow.collect())


def _merge_in_line_order(plain: pl.LazyFrame, slow: pl.DataFrame) -> pl.LazyFrame:
    """Fast-path records with the odd lines' records put in their place."""
    columns = plain.collect_schema().names()
    odd = pl.col("_odd").is_not_null()
    return (
        plain.join(
            slow.lazy()
            .rename({c: f"_slow_{c}" for c in columns if c != s.LINE})
            .with_columns(pl.lit(True).alias("_odd")),
            on=s.LINE,
            how="left",
            maintain_order="left",
        )
        .filter(odd | (pl.col(s.USER_ID) != ""))
        .select(
            s.LINE,
            *(
                pl.when(odd).then(pl.col(f"_slow_{c}")).otherwise(pl.col(c)).alias(c)
                for c in columns
                if c != s.LINE
            ),
        )
        .select(columns)
    )


def raw_text() -> pl.Expr:
    """A fast-path record's line, rebuilt from its four fields."""
    return pl.concat_str(
        [pl.col(c).fill_null("") for c in (s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP)],
        separator=SEPARATOR,
    )


def _user_row(fields: list[str]) -> tuple[str, int, str, str]:
    gender, age, occupation, zip_code = fields
    code = int(occupation)
    name = OCCUPATIONS[code] if 0 <= code < len(OCCUPATIONS) else occupation
    return gender, int(age), name, zip_code


def _movie_row(fields: list[str]) -> tuple[str, list[str], int | None]:
    title, genres = fields
    return title, genres_list(genres), title_year(title)


def genres_list(text: str) -> list[str]:
    """'Comedy|Romance' as a list; '(no genres listed)' (ml-20m on) as none."""
    if not text or text == "(no genres listed)":
        return []
    return text.split("|")


USERS_LAYOUT = Layout(
    "MovieLens users 'UserID::Gender::Age::Occupation::Zip-code'",
    SEPARATOR,
    5,
    _user_row,
    USERS_SCHEMA,
)
MOVIES_LAYOUT = Layout(
    "MovieLens movies 'MovieID::Title::Genres'", SEPARATOR, 3, _movie_row, ITEMS_SCHEMA
)

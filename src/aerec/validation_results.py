"""Running the suites in an offline GX context, in parts, and reading the results.

A ratings table above `CHUNK_ROWS` is validated in parts (see `parts`), so
that memory is that of one part: GX works on a pandas copy of its batch
and its unique-pairs check hashes every row several times over. The parts'
results are merged into one per suite, then read as Outcomes.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from aerec import schema as s
from aerec.config import Severity
from aerec.validation_suites import GX_SEVERITY, RATINGS

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

# Rows of the ratings table GX validates at a time (about 1 GiB of working memory).
CHUNK_ROWS = 5_000_000
_SEVERITY = {gx: ours for ours, gx in GX_SEVERITY.items()}


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict, in the terms the report and the gate use."""

    check: str
    severity: Severity
    table: str
    expectation: str
    column: str | None
    description: str
    success: bool
    evaluated: bool
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    failing_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        """`check[table.column]`: how the gate's one-line error names it."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.check}[{where}]"


def to_pandas(table: str, frame: pl.DataFrame) -> pd.DataFrame:
    """The pandas frame GX validates for `table`.

    Numeric rating and timestamp columns are widened to float64 (exact for
    float32 and for seconds below 2**53): GX's pandas range check is vectorised
    only for float64/int64 columns and loops in Python otherwise, and an int64
    column cannot hold the nulls a timestamp may have. Other dtypes are left
    as they are, so a wrongly typed column fails its checks instead of being
    coerced. The `schema` table keeps the file's dtypes, which is what it checks.
    """
    if table == RATINGS:
        widen = [c for c in (s.RATING, s.TIMESTAMP) if frame.schema.get(c, pl.String).is_numeric()]
        frame = frame.with_columns(pl.col(widen).cast(pl.Float64))
    return frame.to_pandas()


def run_suites(
    tables: dict[str, pl.DataFrame],
    suites: dict[str, list[Expectation]],
    failing_rows: int,
    chunk_rows: int,
    seconds: dict[str, float],
) -> dict[str, dict[str, Any]]:
    """Run each table's suite in one ephemeral GX context; GX's results as JSON dicts.

    Each table goes to GX as pandas (see `to_pandas`), the ratings table in
    parts of at most `chunk_rows` rows whose results are merged (see `parts`
    and `merge_results`). The result format keeps up to `failing_rows` failing
    rows per expectation. All tables share one dataframe asset: each added
    asset re-serialises the context's config. Validation definitions load each
    batch once (`Batch.validate` loads it again and re-hashes the whole frame).
    `seconds["to_pandas"]` and `seconds["gx"]` gain the time spent in each.
    """
    import great_expectations as gx

    context = _offline_context()
    whole = (
        context.data_sources.add_pandas("aerec")
        .add_dataframe_asset("tables")
        .add_batch_definition_whole_dataframe("whole")
    )
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": failing_rows,
        "include_unexpected_rows": failing_rows > 0,
    }
    results: dict[str, dict[str, Any]] = {}
    for table, expectations in suites.items():
        name = f"aerec.{table}"
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=whole, suite=suite)
        )
        part_results = []
        for part in parts(table, tables[table], chunk_rows):
            started = time.perf_counter()
            frame = to_pandas(table, part)
            converted = time.perf_counter()
            result = definition.run(
                batch_parameters={"dataframe": frame}, result_format=result_format
            )
            part_results.append(result.to_json_dict())
            del frame
            seconds["to_pandas"] += converted - started
            seconds["gx"] += time.perf_counter() - converted
        results[table] = merge_results(part_results, failing_rows)
    return results


def parts(table: str, frame: pl.DataFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The frame in the parts GX validates one at a time.

    Only the ratings table is split, and only above `chunk_rows` rows: into
    parts by a hash of user_id, so that every copy of a (user, item) pair lands
    in the same part and the unique-pairs check stays exact. The suite on it
    holds row-level checks only (table-level ones are on `profile`), whose
    verdict over the table is the conjunction of the parts' verdicts.
    """
    if table != RATINGS or frame.height <= chunk_rows:
        yield frame
        return
    n_parts = -(-frame.height // chunk_rows)
    if s.USER_ID not in frame.columns:
        for offset in range(0, frame.height, chunk_rows):
            yield frame.slice(offset, chunk_rows)
        return
    part = frame[s.USER_ID].hash(seed=0) % n_parts
    for k in range(n_parts):
        yield frame.filter(part == k)


def merge_results(results: list[dict[str, Any]], failing_rows: int) -> dict[str, Any]:
    """One GX suite result from the results of the same suite on the parts of a table.

    Per expectation: successful when every part is; counts add up and the
    percentages are recomputed from the sums as GX computes them; failing rows
    and values are the first `failing_rows` over the parts in order; the first
    part's exception, if any part raised, is kept. Expectations with `mostly`
    do not run on parts (no ratings-table check has one).
    """
    if len(results) == 1:
        return results[0]
    by_id = [{r["expectation_config"]["meta"]["id"]: r for r in res["results"]} for res in results]
    merged: list[dict[str, Any]] = []
    for key, first in by_id[0].items():
        same = [part[key] for part in by_id]
        raised = [r for r in same if _exception(r.get("exception_info") or {}) is not None]
        merged.append(
            {
                **first,
                "success": all(r["success"] for r in same),
                "result": _merge_details([r.get("result") or {} for r in same], failing_rows),
                "exception_info": (raised or [first])[0].get("exception_info"),
            }
        )
    passed = sum(r["success"] for r in merged)
    return {
        **results[0],
        "results": merged,
        "success": passed == len(merged),
        "statistics": {
            "evaluated_expectations": len(merged),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(merged) - passed,
            "success_percent": 100 * passed / len(merged) if merged else None,
        },
        "meta": {**results[0].get("meta", {}), "parts": len(results)},
    }


def _merge_details(details: list[dict[str, Any]], failing_rows: int) -> dict[str, Any]:
    """GX's map-expectation `result` fields over parts (see GX's `_format_map_output`)."""
    out = dict(details[0])
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in out:
            out[key] = sum(d.get(key) or 0 for d in details)
    for key in ("partial_unexpected_list", "unexpected_rows"):
        if key in out:
            out[key] = [row for d in details for row in d.get(key) or []][:failing_rows]
    if "partial_unexpected_counts" in out:
        counts: Counter[Any] = Counter()
        for d in details:
            for entry in d.get("partial_unexpected_counts") or []:
                value = entry["value"]
                counts[tuple(value) if isinstance(value, list) else value] += entry["count"]
        top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:failing_rows]
        out["partial_unexpected_counts"] = [{"value": v, "count": c} for v, c in top]
    element, unexpected = out.get("element_count") or 0, out.get("unexpected_count")
    if unexpected is None or "unexpected_percent" not in out:
        return out
    total = unexpected / element * 100 if element else None
    if "missing_count" not in out:
        out["unexpected_percent"] = total
        return out
    nonmissing = element - out["missing_count"]
    out["unexpected_percent"] = unexpected / nonmissing * 100 if nonmissing else None
    out["unexpected_percent_nonmissing"] = out["unexpected_percent"]
    out["unexpected_percent_total"] = total
    out["missing_percent"] = out["missing_count"] / element * 100 if element else None
    return out


def _offline_context() -> Any:
    """An ephemeral GX context (nothing written to disk) that never goes online.

    GX 1.24 no longer ships a usage-statistics client; GX_ANALYTICS_ENABLED is
    the variable its docs name for the switch, set in case an upgrade within
    the pinned major brings it back. No Data Docs site is created.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def outcomes(results: dict[str, dict[str, Any]]) -> list[Outcome]:
    """Every expectation's outcome, table by table in suite order (GX reorders them)."""
    out: list[Outcome] = []
    for table, result in results.items():
        ordered = sorted(result["results"], key=lambda r: r["expectation_config"]["meta"]["id"])
        out.extend(_outcome(table, r) for r in ordered)
    return out


def _outcome(table: str, result: dict[str, Any]) -> Outcome:
    config = result["expectation_config"]
    kwargs = config["kwargs"]
    column = kwargs.get("column") or ", ".join(kwargs.get("column_list", [])) or None
    details = result.get("result") or {}
    exception = _exception(result.get("exception_info") or {})
    raised = exception is not None
    percent = details.get("unexpected_percent")
    return Outcome(
        check=config["meta"]["check"],
        severity=_SEVERITY[config["severity"]],
        table=table,
        expectation=config["type"],
        column=column,
        description=config["meta"]["description"],
        success=bool(result["success"]),
        evaluated=not raised,
        observed=_finite(details.get("observed_value")),
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=_finite(percent),
        failing_rows=list(details.get("unexpected_rows") or []),
        error=exception,
    )


def _exception(info: dict[str, Any]) -> str | None:
    """The message of the exception GX caught, if any.

    GX gives either one flat record or one record per failed metric.
    """
    records = [info] if "raised_exception" in info else list(info.values())
    messages = [r.get("exception_message") for r in records if r.get("raised_exception")]
    return str(messages[0]) if messages else None


def _finite(value: Any) -> Any:
    """NaN becomes None, so that summaries stay valid JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value

"""The compare stage: one self-contained page comparing every evaluated model with the baselines.

Reads what the evaluate stage wrote for each model (metrics.json, buckets.json,
plots) and writes reports/evaluation/index.html.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aerec.config import Params
from aerec.errors import AerecError
from aerec.evaluation_report import (
    BUCKETS_FILE,
    METRICS_FILE,
    PLOTS,
    PLOTS_DIR,
    ModelEvaluation,
    relative_href,
    render,
)
from aerec.io import write_text


def write_overview(
    evaluation_dirs: list[Path], out: Path, params: Params, validation_report: Path | None
) -> dict[str, Any]:
    """The page comparing several evaluated models (each an evaluate run) with the baselines.

    Reads each directory's metrics.json and plots; the baselines shown are the
    first model's (all models of one pipeline share build's baselines).
    """
    evaluations = []
    for directory in evaluation_dirs:
        path = Path(directory) / METRICS_FILE
        if not path.is_file():
            raise AerecError(f"{path}: not found; run `aerec evaluate` for that model first")
        headline = read_json(path)
        buckets_path = Path(directory) / BUCKETS_FILE
        buckets = read_json(buckets_path) if buckets_path.is_file() else {}
        results = merge_buckets(headline, buckets)
        plot_paths = {
            title: Path(directory) / PLOTS_DIR / name
            for title, name in PLOTS.items()
            if (Path(directory) / PLOTS_DIR / name).is_file()
        }
        evaluations.append(ModelEvaluation(Path(directory).name, results, plot_paths))
    page = render(evaluations, params.dataset.name, relative_href(validation_report, out.parent))
    write_text(page, out)
    return {"models": [e.key for e in evaluations], "out": str(out)}


def merge_buckets(headline: dict[str, Any], buckets: dict[str, Any]) -> dict[str, Any]:
    """Undo `split_buckets` (a missing buckets file leaves the bucket tables out)."""
    return {
        "model": {**headline["model"], **buckets.get("model", {})},
        "baselines": {
            name: {**method, **buckets.get("baselines", {}).get(name, {})}
            for name, method in headline.get("baselines", {}).items()
        },
    }


def read_json(path: Path) -> dict[str, Any]:
    """An evaluation JSON file as a dict; a damaged one is one AerecError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AerecError(f"{path}: not valid JSON ({exc}); run `aerec evaluate` again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("model", {}), dict):
        raise AerecError(f"{path}: not an evaluation result; run `aerec evaluate` again")
    return data

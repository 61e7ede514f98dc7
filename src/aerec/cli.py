"""The `aerec` command line: one subcommand per pipeline stage.

Heavy libraries (torch, great_expectations) are imported inside the commands
that need them, so `aerec --help` stays fast. Errors a user can cause
(AerecError) end in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import typer

from aerec import cli_support as support
from aerec.errors import WRONG_KIND, AerecError, disk_full, disk_full_message, user_message

_FROM_STAGE_HELP = (
    "Take the model key from the DVC foreach stage running this command ($DVC_STAGE, "
    "<stage>@<key>), as dvc.yaml does: the key never passes through a shell."
)

app = typer.Typer(
    name="aerec",
    help="Autoencoder-based collaborative filtering: ingest, validate, build, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def fetch(
    name: str | None = typer.Argument(
        None, help="ml-100k, ml-1m, ml-10m, ml-20m or ml-25m; default: params dataset.name."
    ),
    out: str = typer.Option("data/fetched", help="Root folder; the files go to OUT/NAME."),
    source: str | None = typer.Option(
        None, help="recbole-wheel (ml-100k, from the package registry) or grouplens (by URL)."
    ),
    url: str | None = typer.Option(
        None, help="GroupLens base URL (else $AEREC_GROUPLENS_URL, else the official site)."
    ),
    params: str = typer.Option("params.yaml", help="Params file, read when NAME is omitted."),
) -> None:
    """Download a known dataset, verify its pinned checksums, extract it safely."""
    from rich.console import Console

    from aerec import datasets, sources
    from aerec.config import is_local, load_params

    if Path(out).exists() and not Path(out).is_dir():
        raise AerecError(f"--out {out}: a file where the raw data folder belongs; pick a folder")
    dataset = None if name is not None else load_params(params).dataset
    if dataset is not None and (is_local(dataset) or source is None):
        summary = sources.fetch(dataset, Path(out), base_url=url, progress=True)
    else:
        name = name or dataset.name
        summary = datasets.fetch(name, Path(out), source=source, base_url=url, progress=True)
    if summary["downloaded"] or summary.get("local"):
        state = "local, nothing to fetch" if summary.get("local") else "downloaded and verified"
    else:
        state = "written" if summary.get("generated") else "already present, verified"
    Console().print(
        f"[bold]{support.text(summary['dataset'])}[/] ({summary['source']}): {state} -> "
        f"{support.text(summary['dir'])} ({len(summary['files'])} files)"
    )


@app.command()
def build(
    ingest_dir: str = typer.Argument(..., help="Ingest output folder (ratings.parquet, ...)."),
    out: str = typer.Option("data/processed", help="Output folder for maps, matrices, stats."),
    validation: str = typer.Option(
        None, help="validate's summary.json of these data (default reports/validation/<dataset>)."
    ),
    params: str = typer.Option("params.yaml", help="Params file (reads dataset.scale, build)."),
) -> None:
    """Build id maps, split CSR matrices, side-info matrices and baselines of validated data."""
    from rich.console import Console

    from aerec.config import load_params
    from aerec.gate import SUMMARY_FILE, require_validated
    from aerec.stages import build as stage

    cfg = load_params(params)
    default = Path("reports/validation") / cfg.dataset.name / SUMMARY_FILE
    require_validated(Path(ingest_dir), Path(validation) if validation else default)
    summary = stage.run(Path(ingest_dir), Path(out), cfg)
    first, *rest = stage.describe(summary).splitlines()
    Console().print(
        f"[bold]build[/] {support.text(first)} -> {support.text(out)}"
        + "".join(f"\n{support.text(line)}" for line in rest)
        + (f"\n  [yellow]{support.text(summary['split_note'])}[/]" if summary["split_note"] else "")
    )


@app.command()
def validate(
    ingest_dir: str = typer.Argument(..., help="Ingest output folder (ratings.parquet, ...)."),
    out: str = typer.Option(
        None, help="Report folder: index.html, result.json, summary.json; or --out-root."
    ),
    out_root: str = typer.Option(None, help="Write into OUT_ROOT/<dataset.name> instead of --out."),
    params: str = typer.Option(
        "params.yaml", help="Params file (reads dataset.name, dataset.scale, validate)."
    ),
) -> None:
    """Check an ingest folder with Great Expectations; fail on error-severity checks."""
    from rich.console import Console
    from rich.markup import escape

    from aerec.config import load_params
    from aerec.stages import validate as stage

    cfg = load_params(params)
    folder = support.folder(out, out_root, ("--out", "--out-root"), lambda: cfg.dataset.name)
    summary = stage.run(Path(ingest_dir), folder, cfg)
    counts, expectations = summary["counts"], summary["expectations"]
    warnings = escape(", ".join(summary["warnings"]))
    warned = f"; [yellow]warnings: {warnings}[/]" if warnings else ""
    Console().print(
        f"[bold]validate[/] {support.text(summary['dataset'])}: [green]passed[/] "
        f"{expectations['passed']}/{expectations['total']} expectations on "
        f"{counts['ratings']:,} ratings{warned}\n"
        f"  report: {support.text(folder / summary['report'])}"
    )


@app.command()
def train(
    data: str = typer.Option("data/processed", help="Build output folder (train.npz, ...)."),
    out: str = typer.Option(
        None, help="Model folder: checkpoint.pt, history.csv (models/<key>); or --out-root."
    ),
    out_root: str = typer.Option(None, help="Write into OUT_ROOT/<model key> instead of --out."),
    model: str = typer.Option(None, help="Model key (default: train.model in params)."),
    model_from_stage: bool = typer.Option(False, help=_FROM_STAGE_HELP),
    params: str = typer.Option("params.yaml", help="Params file (reads train, models.<key>)."),
    restart: bool = typer.Option(False, help="Discard an existing checkpoint and start over."),
    restart_if_changed: bool = typer.Option(
        False, help="Resume a checkpoint of the same config, replace one of another (for DVC)."
    ),
) -> None:
    """Train an autoencoder; resumes from out/checkpoint.pt after an interruption.

    Writes out/model.pt (the served model) once training is done.
    """
    from rich.console import Console

    from aerec.config import load_params
    from aerec.stages import train as stage

    cfg = load_params(params)
    model = support.model_option(model, model_from_stage, "train")
    folder = support.folder(
        out, out_root, ("--out", "--out-root"), lambda: model or cfg.train.model
    )
    summary = stage.run(
        Path(data),
        folder,
        cfg,
        model,
        restart,
        restart_if_changed=restart_if_changed,
    )
    best = summary["best_val_rmse"]
    recall = summary["best_val_recall20"]
    score = f"val RMSE {best:.4f}" if best is not None else f"val recall@20 {recall:.4f}"
    resumed = summary["resumed_from_epoch"]
    if resumed is not None and summary["trained_epochs"] == 0:
        resumed_note = ", already trained (nothing to do)"
    else:
        resumed_note = f", resumed after epoch {resumed}" if resumed is not None else ""
    if summary["refit_epochs"]:
        resumed_note += f"; refit on train + validation for {summary['refit_epochs']} epochs"
    Console().print(
        f"[bold]train[/] {support.text(summary['model'])} on {summary['device']}: "
        f"{summary['epochs']} epochs, best epoch {summary['best_epoch']} ({score}){resumed_note}"
        f"\n  model: {support.text(summary['model_file'])}"
    )


@app.command()
def evaluate(
    data: str = typer.Option("data/processed", help="Build output folder (test.npz, maps, ...)."),
    model_dir: str = typer.Option(
        None, help="Model folder with model.pt (models/<key>); or --model-root."
    ),
    model_root: str = typer.Option(
        None, help="Read MODEL_ROOT/<model key> instead of --model-dir."
    ),
    out: str = typer.Option(None, help="Output folder (reports/evaluation/<key>); or --out-root."),
    out_root: str = typer.Option(None, help="Write into OUT_ROOT/<model key> instead of --out."),
    model: str = typer.Option(None, help="Model key, naming the folders under the roots."),
    model_from_stage: bool = typer.Option(False, help=_FROM_STAGE_HELP),
    validation: str = typer.Option(
        None, help="Validation report to link (default reports/validation/<dataset>/index.html)."
    ),
    params: str = typer.Option("params.yaml", help="Params file (reads dataset.name, evaluate)."),
) -> None:
    """Score a trained model and every baseline on the test set; write metrics, plots, report."""
    from rich.console import Console

    from aerec.config import load_params
    from aerec.stages import evaluate as stage

    cfg = load_params(params)
    model = support.model_option(model, model_from_stage, "evaluate")
    key = partial(support.required_key, model)
    model_folder = support.folder(model_dir, model_root, ("--model-dir", "--model-root"), key)
    out_folder = support.folder(out, out_root, ("--out", "--out-root"), key)
    report = Path(validation or f"reports/validation/{cfg.dataset.name}/index.html")
    summary = stage.run(Path(data), model_folder, out_folder, cfg, report)
    rmse = ", ".join(
        f"{support.text(name)} {'n/a' if value is None else f'{value:.4f}'}"
        for name, value in summary["rmse"].items()
    )
    ndcg = next(k for k in summary if k.startswith("ndcg@"))
    Console().print(
        f"[bold]evaluate[/] {support.text(summary['model'])}: {summary['test_ratings']:,} test "
        f"ratings; RMSE {rmse}; {ndcg} {summary[ndcg] or 0:.4f}"
        f"\n  report: {support.text(out_folder / 'index.html')}"
    )


@app.command()
def blend(
    data: str = typer.Option("data/processed", help="Build output folder (val.npz, test.npz)."),
    model_root: str = typer.Option("models", help="Folder of the trained models (<key>/)."),
    out: str = typer.Option("reports/blend", help="Output folder (metrics.json)."),
    params: str = typer.Option("params.yaml", help="Params file (reads blend, evaluate)."),
) -> None:
    """Fit non-negative blend weights on validation; report the blend on test beside each member."""
    from rich.console import Console

    from aerec.config import load_params
    from aerec.stages import blend as stage

    result = stage.run(Path(data), Path(model_root), Path(out), load_params(params))
    metrics = support.text(Path(out) / stage.METRICS_FILE)
    Console().print(f"[bold]blend[/] {support.text(stage.describe(result))}\n  metrics: {metrics}")


@app.command()
def compare(
    evaluations: list[str] = typer.Argument(
        None, help="Evaluation folders (default: those with a metrics.json below --out's folder)."
    ),
    out: str = typer.Option("reports/evaluation/index.html", help="The overview page."),
    validation: str = typer.Option(
        None, help="Validation report to link (default reports/validation/<dataset>/index.html)."
    ),
    params: str = typer.Option("params.yaml", help="Params file (reads dataset.name)."),
) -> None:
    """Write one self-contained page comparing the evaluated models with the baselines."""
    from rich.console import Console

    from aerec.config import load_params
    from aerec.errors import AerecError
    from aerec.stages import compare as stage

    cfg = load_params(params)
    dirs = (
        [Path(d) for d in evaluations]
        if evaluations
        else sorted(p.parent for p in Path(out).parent.rglob(stage.METRICS_FILE))
    )
    if not dirs:
        raise AerecError(f"{Path(out).parent}: no evaluated model found; run `aerec evaluate`")
    report = Path(validation or f"reports/validation/{cfg.dataset.name}/index.html")
    summary = stage.write_overview(dirs, Path(out), cfg, report)
    Console().print(
        f"[bold]compare[/] {support.text(', '.join(summary['models']))} and the baselines "
        f"-> {support.text(summary['out'])}"
    )


@app.command()
def recommend(
    user: str = typer.Option(None, help="The user id (as in the raw data) to recommend for."),
    n: int = typer.Option(10, "-n", min=1, help="How many items per user."),
    all_users: bool = typer.Option(False, "--all", help="Every user's list, written to --out."),
    out: str = typer.Option("recs.parquet", help="With --all: the Parquet file to write."),
    data: str = typer.Option("data/processed", help="Build output folder."),
    model_dir: str = typer.Option(None, help="Model folder (default models/<train.model>)."),
    items: str = typer.Option("data/interim/items.parquet", help="Item titles (optional)."),
    params: str = typer.Option("params.yaml", help="Params file (reads train.model, evaluate)."),
) -> None:
    """Top-N unseen items with predicted ratings for one user (--user) or all users (--all)."""
    import time

    from rich.console import Console
    from rich.table import Table

    from aerec.config import load_params
    from aerec.errors import AerecError
    from aerec.stages import recommend as stage

    if (user is None) == (not all_users):
        raise AerecError("recommend: give exactly one of --user ID or --all")
    cfg = load_params(params)
    folder = Path(model_dir or f"models/{cfg.train.model}")
    recommender = stage.load_recommender(Path(data), folder, cfg, Path(items))
    console = Console()
    if all_users:
        summary = stage.run_all(recommender, n, Path(out), progress=console.is_terminal)
        console.print(
            f"[bold]recommend[/] {summary['users']:,} users -> {support.text(summary['out'])}"
        )
        return
    start = time.perf_counter()
    frame, note = recommender.for_user(user, n)
    seconds = time.perf_counter() - start
    if note:
        console.print(f"[yellow]{support.text(note)}[/]")
    # Ids and titles come from the user's data: cells and title are text, not markup.
    where = f"{support.text(folder.name)}, {seconds:.2f} s"
    table = Table(title=f"top {n} for user {support.text(user)} ({where})")
    for column in frame.columns[1:]:
        table.add_column(support.text(column), justify="right" if column != "title" else "left")
    for row in frame.iter_rows():
        table.add_row(*[f"{v:.2f}" if isinstance(v, float) else support.text(v) for v in row[1:]])
    console.print(table)


def _format_help() -> str:
    from aerec.readers import FORMATS

    return "\n\n".join(f"[bold]{name}[/]: {spec.help}" for name, spec in FORMATS.items())


@app.command(
    help="Read raw rating files into ratings.parquet, rejects.parquet, users/items.parquet "
    f"and summary.json. gzip inputs are read as they are. Formats:\n\n{_format_help()}"
)
def ingest(
    inputs: list[str] = typer.Argument(
        None, help="Input files or folders of the format; or --raw-root."
    ),
    raw_root: str = typer.Option(
        None,
        help="Read params' dataset (its dataset.path, or RAW_ROOT/<dataset.name> as `aerec fetch` "
        "left a known one) instead of INPUTS.",
    ),
    out: str = typer.Option(..., help="Output folder (data/interim)."),
    format: str = typer.Option(
        None, "--format", help="Input format (default: params dataset.format), see above."
    ),
    columns: str = typer.Option(
        None, help="csv only: user=COL,item=COL,rating=COL[,timestamp=COL]."
    ),
    scale: str = typer.Option(
        None, help="Rating scale MIN:MAX:STEP (default: the format's, or params with no --format)."
    ),
    params: str = typer.Option(
        "params.yaml", help="Params file, read when --format is omitted (dataset.format, .scale)."
    ),
) -> None:
    """Read raw rating files into the canonical tables; print a one-screen summary."""
    from rich.console import Console

    from aerec import sources
    from aerec.config import load_params
    from aerec.datasets import IngestPlan
    from aerec.stages import ingest as stage

    if bool(inputs) == (raw_root is not None):
        raise AerecError("ingest: give exactly one of INPUTS or --raw-root")
    plan = IngestPlan(format, [], None, None)
    if format is None or raw_root is not None:
        plan = sources.params_plan(load_params(params).dataset, raw_root and Path(raw_root))
    summary = stage.run(
        format or plan.format,
        [Path(p) for p in inputs or ()] or plan.inputs,
        Path(out),
        scale=stage.parse_scale(scale) if scale else None if format else plan.scale,
        columns=stage.parse_columns(columns) if columns else None if format else plan.columns,
    )
    # render() writes the folder into markup: hand it the escaped text.
    Console().print(stage.render(summary, support.text(out)))


@app.command()
def report(
    evaluations: str = typer.Option(
        "reports/evaluation", help="Folder holding models/<key>/metrics.json and index.html."
    ),
    params: str = typer.Option("params.yaml", help="Params file (reads dataset.name)."),
) -> None:
    """Print the test metrics of every evaluated model and baseline, and the report paths."""
    from rich.console import Console
    from rich.table import Table

    from aerec.config import load_params
    from aerec.stages.compare import read_json

    root = Path(evaluations)
    found = sorted(root.glob("models/*/metrics.json"))
    if not found:
        raise AerecError(f"{root}: no models/<key>/metrics.json; run `dvc repro` (or make run)")
    table = Table(title="Test metrics (lower RMSE/MAE is better)")
    for column in ("model", "RMSE", "MAE", "NDCG@10", "Recall@10"):
        table.add_column(column, justify="left" if column == "model" else "right")
    shown: set[str] = set()
    for path in found:
        metrics = read_json(path)
        rows = {path.parent.name: metrics["model"], **metrics.get("baselines", {})}
        for name, row in rows.items():
            if name in shown:
                continue
            shown.add(name)
            rating, ranking = row.get("rating", {}), row.get("ranking", {})
            table.add_row(
                support.text(name),
                *(
                    support.fmt(v)
                    for v in (
                        rating.get("rmse"),
                        rating.get("mae"),
                        ranking.get("ndcg@10"),
                        ranking.get("recall@10"),
                    )
                ),
            )
    console = Console()
    console.print(table)
    dataset = load_params(params).dataset.name
    console.print(f"validation report: reports/validation/{support.text(dataset)}/index.html")
    console.print(f"evaluation report: {support.text(root / 'index.html')}")


@app.command()
def tune(
    model: str = typer.Option(..., help="Model key to tune."),
    trials: int = typer.Option(20, help="Trials the study holds in all (every worker counts)."),
    jobs: int = typer.Option(1, help="Worker processes running trials of the study."),
    storage: str = typer.Option(None, help="Journal file (default reports/tune/STUDY.journal)."),
    study: str = typer.Option(None, help="Study name (default tune-<model>)."),
    params: str = typer.Option("params.yaml", help="Params file (train, models.<key>, tune)."),
    data: str = typer.Option("data/processed", help="Build output folder (test is never read)."),
    out: str = typer.Option("reports/tune", help="Folder of the summary STUDY.json."),
) -> None:
    """Search the tune.space of params with Optuna (TPE, median pruning) on validation."""
    from aerec import tune as search

    key = support.checked_key(model, "--model")
    name = study or f"tune-{key}"
    where = Path(storage) if storage else Path(out) / f"{name}.journal"
    run = search.Search(Path(params), Path(data), key, trials, where, name)
    summary = search.run(run, jobs, Path(out))
    best = summary["best_value"]
    print(
        f"{summary['trials']} trials ({summary['complete']} complete, {summary['pruned']} "
        f"pruned, {summary['failed']} failed); summary {summary['report']}"
    )
    if best is None:
        raise AerecError("tune: no trial completed; see the lines above")
    score = f"{summary['metric']} {abs(best):.4f}"
    print(f"best trial {summary['best_trial']}: {score} {summary['best_params']}")
    print(f"record it as a DVC experiment:\n  {summary['command']}")


def main() -> None:
    """Console-script entry point: run the app, turning AerecError into one line."""
    try:
        app()
    except (AerecError, *WRONG_KIND) as exc:  # a folder for a file or the reverse: user paths
        print(f"aerec: error: {user_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        if not disk_full(exc):
            raise
        print(f"aerec: error: {disk_full_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as exc:
        # typer turns a KeyboardInterrupt inside a command into a silent
        # `sys.exit(130)` (an Exit caused by the interrupt): say so, then exit.
        if exc.code == 130 and isinstance(
            getattr(exc.__context__, "__cause__", None), KeyboardInterrupt
        ):
            _interrupted()
        raise


def _interrupted() -> None:
    print("aerec: interrupted", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()

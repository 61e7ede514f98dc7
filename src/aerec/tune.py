"""`aerec tune`: an Optuna study (TPE, median pruning) over the `tune:` space of params.yaml.

The study lives in a journal file (Optuna's JournalStorage), so several
worker processes, and several machines sharing the filesystem, run trials of
one study. `trials` is the study's total: a worker claims a trial (count and
ask under a file lock next to the journal) only while fewer exist. A trial
is one run of the training loop on train and validation only (the test split
is never opened), reporting each epoch's validation score (RMSE, or minus
recall@20 for a ranking model; lower is better) to the pruner. The best
trial becomes the `dvc exp run -S ...` line that records it, test metrics
beside its params, as a DVC experiment.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import multiprocessing
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from aerec.config import Params, load_params
from aerec.errors import AerecError
from aerec.processed import TrainingData, load_training
from aerec.tune_space import Choices, TuneConfig, apply, dvc_command, load_tune

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclasses.dataclass(frozen=True)
class Search:
    """One `aerec tune` invocation: what every worker process needs (picklable)."""

    params_path: Path
    data_dir: Path
    model: str
    trials: int
    storage: Path
    study: str


def run(search: Search, jobs: int, report_dir: Path) -> dict[str, Any]:
    """Run the search with `jobs` worker processes; write and return its summary."""
    if not STUDY_NAME.fullmatch(search.study):
        raise AerecError(f"--study {search.study!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    if search.trials < 1 or jobs < 1:
        raise AerecError("--trials and --jobs: give whole numbers of at least 1")
    if search.storage.is_dir():
        raise AerecError(f"--storage {search.storage}: a folder; give the journal file's path")
    params, cfg = _prepare(search)[:2]  # the data only checked here: each worker reads it
    open_study(search, cfg)
    if jobs == 1:
        work(search, 0)
    else:
        _spawn(search, jobs)
    summary = summarize(open_study(search, cfg), search, params)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"{search.study}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    summary["report"] = str(path)
    return summary


def _prepare(search: Search) -> tuple[Params, TuneConfig, TrainingData]:
    """Params, the checked search space and the training data (no test split), or one line."""
    from aerec.models import model_class

    params = load_params(search.params_path)
    model_class(search.model)
    cfg = load_tune(params, search.model)
    data = load_training(search.data_dir)
    if data.val.nnz == 0:
        raise AerecError(f"{search.data_dir / 'val.npz'}: empty; a search needs validation")
    return params, cfg, data


def open_study(search: Search, cfg: TuneConfig, worker: int = 0) -> optuna.Study:
    """The study in the journal (created if new); its sampler seeded per worker."""
    search.storage.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(search.storage)))
    pruner = (
        optuna.pruners.MedianPruner(cfg.startup_trials, cfg.warmup_epochs)
        if cfg.prune
        else optuna.pruners.NopPruner()
    )
    sampler = optuna.samplers.TPESampler(seed=cfg.seed + worker)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _claim_lock(search):
        study = optuna.create_study(
            storage=storage,
            study_name=search.study,
            direction="minimize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        model = study.user_attrs.get("model")
        if model is None:
            study.set_user_attr("model", search.model)
        elif model != search.model:
            raise AerecError(
                f"{search.storage}: study {search.study!r} tunes {model}, not {search.model}; "
                "give another --study"
            )
    return study


def work(search: Search, worker: int) -> None:
    """One worker: claim and run trials until the study holds `search.trials`."""
    params, cfg, data = _prepare(search)
    study = open_study(search, cfg, worker)
    while (trial := _claim(study, search)) is not None:
        started = time.perf_counter()
        try:
            state, value = _run_trial(trial, search, params, cfg, data)
        except BaseException:
            # Interrupted or broken: a trial left running would count towards the
            # study's trials forever (a journal has no heartbeats).
            study.tell(trial, state=TrialState.FAIL)
            raise
        # Told and counted under the claim lock: the k of "trial k/N" is unique
        # across workers, and the line with k = N shows the study's final best.
        with _claim_lock(search):
            study.tell(trial, value, state=state)
            _print_progress(study, search, trial.number, state, value, worker, started)


def _claim(study: optuna.Study, search: Search) -> optuna.Trial | None:
    """A new trial, or None when the study has its trials (counted under the lock)."""
    with _claim_lock(search):
        if len(study.get_trials(deepcopy=False)) >= search.trials:
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if not waiting:
                return None
        return study.ask()


@contextmanager
def _claim_lock(search: Search) -> Iterator[None]:
    path = search.storage.with_name(search.storage.name + ".claim")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_trial(
    trial: optuna.Trial, search: Search, params: Params, cfg: TuneConfig, data: TrainingData
) -> tuple[TrialState, float | None]:
    """Train one trial's params; its state and best validation score."""
    from aerec.training.loop import fit

    values = {key: suggest(trial, key, spec) for key, spec in cfg.space.items()}
    train, block = apply(params, search.model, values)
    try:
        with tempfile.TemporaryDirectory(prefix="aerec-tune-") as tmp:
            summary = fit(
                search.model,
                block,
                train,
                data,
                Path(tmp),
                runtime=params.runtime,
                restart=True,
                log=False,
                on_epoch=epoch_reporter(trial),
            )
    except optuna.TrialPruned:
        return TrialState.PRUNED, None
    except AerecError as exc:  # a diverged run: the trial failed, the search goes on
        trial.set_user_attr("error", str(exc))
        return TrialState.FAIL, None
    rmse, recall = summary["best_val_rmse"], summary["best_val_recall20"]
    trial.set_user_attr("metric", "val_rmse" if rmse is not None else "val_recall20")
    return TrialState.COMPLETE, rmse if rmse is not None else -recall


def suggest(trial: optuna.Trial, key: str, spec: Any) -> Any:
    """The trial's value for `key` from its range or choices."""
    if isinstance(spec, Choices):
        return trial.suggest_categorical(key, spec.choices)
    if spec.is_int:
        return trial.suggest_int(key, spec.low, spec.high, step=spec.step or 1, log=spec.log)
    return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)


def epoch_score(row: dict[str, Any]) -> float | None:
    """An epoch's validation score, lower is better: RMSE, or minus recall@20."""
    if row.get("val_rmse") is not None:
        return float(row["val_rmse"])
    return None if row.get("val_recall20") is None else -float(row["val_recall20"])


def epoch_reporter(trial: optuna.Trial) -> Callable[[dict[str, Any]], None]:
    """fit's per-epoch callback: report the score; raise TrialPruned when the pruner says so."""

    def report(row: dict[str, Any]) -> None:
        score = epoch_score(row)
        if score is None or not math.isfinite(score):
            return
        trial.report(score, row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {row['epoch']}")

    return report


def _print_progress(
    study: optuna.Study,
    search: Search,
    number: int,
    state: TrialState,
    value: float | None,
    worker: int,
    started: float,
) -> None:
    """`trial k/N: #n complete, value v, best val_rmse b (trial j), ...` on stdout."""
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    shown = f"{abs(value):.4f}" if value is not None else "-"
    best = _best(study)
    metric = best.user_attrs.get("metric", "") if best else ""
    best_text = f"best {metric} {abs(best.value):.4f} (trial {best.number})" if best else "best -"
    print(
        f"trial {done}/{search.trials}: #{number} {state.name.lower()}, value {shown}, "
        f"{best_text}, worker {worker}, {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda t: t.value) if complete else None


def summarize(study: optuna.Study, search: Search, params: Params) -> dict[str, Any]:
    """Best params and value, trial counts by state, the dvc command recording the best."""
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    best = _best(study)
    return {
        "study": search.study,
        "model": search.model,
        "storage": str(search.storage),
        "direction": "minimize",
        # best_value is what the study minimises: the RMSE, or minus the recall.
        "metric": None if best is None else best.user_attrs.get("metric"),
        "trials": len(trials),
        "complete": count[TrialState.COMPLETE],
        "pruned": count[TrialState.PRUNED],
        "failed": count[TrialState.FAIL],
        "best_trial": None if best is None else best.number,
        "best_value": None if best is None else best.value,
        "best_params": None if best is None else best.params,
        "command": None if best is None else dvc_command(best.params, search.model, params),
    }


def trial_rows(search: Search) -> list[dict[str, Any]]:
    """The study's trials as table rows (number, state, params, value), best first.

    Complete trials come first, lowest value first; then pruned and failed ones.
    A value is shown as the metric reads (RMSE, or recall@20 without the minus).
    """
    params = load_params(search.params_path)
    study = open_study(search, load_tune(params, search.model))
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = None if t.value is None else abs(t.value)
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name.lower()}
        row.update(t.params)
        row.update({"metric": t.user_attrs.get("metric"), "value": value})
        rows.append((t.state != TrialState.COMPLETE, t.value or 0.0, t.number, row))
    return [row for *_, row in sorted(rows, key=lambda r: r[:3])]


def _spawn(search: Search, jobs: int) -> None:
    """`jobs` worker processes on the study; a failed one is one AerecError line."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker_main, args=(search, i)) for i in range(jobs)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    failed = [i for i, p in enumerate(workers) if p.exitcode != 0]
    if failed:
        raise AerecError(
            f"tune: worker(s) {', '.join(map(str, failed))} failed (see above); "
            f"the study in {search.storage} keeps every finished trial"
        )


def _worker_main(search: Search, worker: int) -> None:
    """A spawned worker: user errors are one line on stderr and exit code 2."""
    import sys

    try:
        work(search, worker)
    except AerecError as exc:
        print(f"error: worker {worker}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:  # the parent says so once
        sys.exit(130)

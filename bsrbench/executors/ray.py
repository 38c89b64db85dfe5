"""The Ray executor: a sweep's tasks spread over a Ray cluster, one writer of the results.

Each task is one method plan on one test set (a :class:`~bsrbench.runner.RunConfig`). A
worker runs it with the ordinary runner into a *scratch* run folder seeded with a copy of
the real folder's results.csv and run.json, so the runner's resume check and its skipping
of finished LR images work exactly as in a local run; the worker then returns the rows and
run.json entries of its own run. This process, the driver, alone appends them to the run
folder through :mod:`bsrbench.results`, which it holds locked for the whole sweep.

Why this shape: a task whose worker dies is retried by Ray (``max_retries``) from scratch,
and since nothing of it reached the run folder, no row is written twice. A driver
interrupted between tasks leaves a folder that any executor resumes: finished tasks' rows
are in results.csv, unfinished ones are not.

Workers need the installed code (bsrbench and its plugins) and the test-set files at the
paths the driver gives (a shared filesystem, docs/cluster.md); the run folder itself needs
to be reachable only from the driver.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import BsrbenchError, InputError, RunError

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.runner import RunConfig

__all__ = ["INSTALL_HINT", "RayExecutor", "TaskResult", "import_ray", "run_task"]

log = logging.getLogger("bsrbench")

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install bsrbench[ray]"
MAX_RETRIES = 3  # Ray retries of a task whose worker died (crash, OOM kill, lost node)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        InputError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class TaskResult:
    """What a worker sends back: its run's rows (cells as written, by column) and its
    run.json entries; nothing of it is in the run folder yet."""

    rows: list[dict[str, str]]
    runs: list[dict[str, Any]]
    failed: int  # LR images with error rows
    label: str  # method on test set, for log lines
    # --save-images: the files this run wrote under images/, by path relative to it
    images: dict[str, bytes] = field(default_factory=dict)


def snapshot(out: Path) -> dict[str, bytes]:
    """The run folder's results.csv and run.json as bytes (those that exist): what a
    worker's scratch folder starts from, so the runner resumes there as it would here."""
    from bsrbench.results import RESULTS, RUN_JSON

    return {name: (out / name).read_bytes() for name in (RESULTS, RUN_JSON)
            if (out / name).is_file()}


def run_task(task: RunConfig, registry: Registry, files: Mapping[str, bytes],
             device: str) -> TaskResult:
    """Run ``task`` in a scratch copy of its run folder (on a worker) and return the rows
    and run.json entries of this run only.

    Args:
        task: the run; its ``out`` is replaced by the scratch folder.
        registry: the driver's registry (plugins the driver loaded, test ones included).
        files: :func:`snapshot` of the real run folder.
        device: the device asked for; ``auto`` resolves on this worker's machine.
    """
    from bsrbench.device import pick_device
    from bsrbench.results import IMAGES, RESULTS, RunLog, read_table
    from bsrbench.runner import run

    with tempfile.TemporaryDirectory(prefix="bsrbench-task-") as tmp:
        scratch = Path(tmp) / "run"
        scratch.mkdir()
        for name, data in files.items():
            (scratch / name).write_bytes(data)
        before = {entry.get("run_id") for entry in RunLog(scratch).runs}
        summary = run(replace(task, out=scratch, quiet=True, device=pick_device(device)),
                      registry)
        runs = [e for e in RunLog(scratch).runs if e.get("run_id") not in before]
        ids = {e.get("run_id") for e in runs}
        path = scratch / RESULTS
        rows = [r for r in read_table(path).rows if r.get("run_id") in ids] \
            if path.exists() else []
        images = {str(f.relative_to(scratch / IMAGES)): f.read_bytes()
                  for f in sorted((scratch / IMAGES).rglob("*")) if f.is_file()}
    return TaskResult(rows, runs, summary.failed, _label(task), images)


def _label(task: RunConfig) -> str:
    return f"{task.plan.label} on {Path(task.dataset).name}"


def _absolute(task: RunConfig) -> RunConfig:
    """``task`` with absolute input paths: a worker on another machine, or started in
    another folder, finds the test set and weights at the same place on the shared
    filesystem (run.json records these paths; rows do not depend on them)."""
    def resolved(path: Path | None) -> Path | None:
        return None if path is None else Path(path).resolve()

    return replace(task, dataset=Path(task.dataset).resolve(), weights=resolved(task.weights),
                   kernel_weights=resolved(task.kernel_weights))


def _append(out: Path, registry: Registry, task: RunConfig, result: TaskResult) -> None:
    """Store one finished task in the run folder: run.json entries first (as the runner
    records its settings before its rows), its images (``--save-images``), then every
    row in one append, so a stored row never points at a missing image.

    Raises:
        InputError: a task that finished earlier wrote the same method on the same test-set
            label and scale with other settings (the worker's copy predates it).
    """
    from bsrbench.results import IMAGES, RESULTS, ResultsFile, RunLog
    from bsrbench.scoring import select_metrics

    metrics = [m.name for m in select_metrics(registry, task.metrics)]
    results = ResultsFile(out / RESULTS, metrics=metrics)
    runlog = RunLog(out, has_rows=bool(results.table.rows))
    wrote = {row.get("run_id", "") for row in results.table.rows}
    for entry in result.runs:  # again here: another task may have written since the copy
        runlog.check_resume(entry, wrote)
    for entry in result.runs:
        runlog.record(entry)
    for name, data in result.images.items():
        target = out / IMAGES / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if result.rows:
        results.append(result.rows)


class RayExecutor:
    """Runs a sweep's tasks as Ray tasks, one GPU each where the cluster has GPUs."""

    def __init__(self, address: str | None = None, device: str = "auto",
                 max_retries: int = MAX_RETRIES) -> None:
        """Import Ray now, so a missing install fails before any work.

        Args:
            address: a running cluster (``auto``, ``HOST:6379``, ``ray://HOST:10001``);
                None: join the instance this process already started, or start a local
                one with this machine's CPUs and GPUs (stopped again at the end).
            device: the device asked for (``auto``, ``cpu``, ``cuda``...), resolved on
                each worker.
            max_retries: how often Ray reruns a task whose worker died.
        """
        self.ray = import_ray()
        self.address = address
        self.device = device
        self.max_retries = max_retries

    def _connect(self) -> bool:
        """Join or start Ray; return whether this call started the connection."""
        if self.ray.is_initialized():
            return False
        try:
            self.ray.init(address=self.address, include_dashboard=False,
                          logging_level=logging.WARNING, configure_logging=False)
        except ConnectionError as exc:
            raise InputError(f"cannot reach the Ray cluster at {self.address} ({exc}): start "
                             "it with `ray start --head`, or check --ray-address") from None
        return True

    def run(self, tasks: Iterable[RunConfig], registry: Registry, out: Path) -> int:
        """Run every task on the cluster, append each one's rows when it returns, and
        return the failed LR images. Tasks still running when this stops (an error, a
        KeyboardInterrupt) are cancelled; their rows never reach the run folder."""
        tasks = list(tasks)
        if not tasks:
            return 0
        started = self._connect()
        try:
            return self._run(tasks, registry, Path(out))
        finally:
            if started:
                self.ray.shutdown()

    def _run(self, tasks: list[RunConfig], registry: Registry, out: Path) -> int:
        ray = self.ray
        gpus = ray.cluster_resources().get("GPU", 0) if self.device != "cpu" else 0
        remote = ray.remote(run_task)
        files = ray.put(snapshot(out))
        reg = ray.put(registry)
        tasks = [_absolute(task) for task in tasks]
        pending = {remote.options(num_cpus=1, num_gpus=1 if gpus else 0,
                                  max_retries=self.max_retries, retry_exceptions=False,
                                  name=_label(task)).remote(task, reg, files, self.device):
                   task for task in tasks}
        log.info("ray: %d tasks on %s (%s GPUs)", len(tasks),
                 self.address or "a local instance", gpus)
        failed = 0
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(done[0])
                result = self._result(done[0], task)
                _append(out, registry, task, result)
                failed += result.failed
                log.info("ray: %s done (%d rows)", result.label, len(result.rows))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
        return failed

    def _result(self, ref: Any, task: RunConfig) -> TaskResult:
        """The task's result; a user error on the worker is raised here as itself."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BsrbenchError):
                raise cause from None
            raise
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise RunError(f"{_label(task)}: its Ray worker died on each of its "
                           f"{self.max_retries + 1} tries ({type(exc).__name__}); the "
                           "finished tasks' rows are kept: rerun the same command to "
                           "resume") from None

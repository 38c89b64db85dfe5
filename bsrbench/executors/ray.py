"""The Ray executor: a sweep's tasks spread over a Ray cluster, one writer of the results.

Each task is one method plan on one *shard* of a test set: a
:class:`~bsrbench.runner.RunConfig` whose ``images`` are a contiguous run of the test set's
HR images (:func:`shard_tasks`), so a sweep of one method on one large test set still
keeps every worker busy. A worker runs it with the ordinary runner into a *scratch* run
folder seeded with a copy of the real folder's results.csv and run.json, so the runner's
resume check and its skipping of finished LR images work exactly as in a local run; the
worker then returns the rows and run.json entries of its own run. This process, the
driver, alone appends them to the run folder through :mod:`bsrbench.results`, which it
holds locked for the whole sweep.

Why this shape: a task whose worker dies is retried by Ray (``max_retries``) from scratch,
and since nothing of it reached the run folder, no row is written twice. A driver
interrupted between tasks leaves a folder that any executor resumes: finished tasks' rows
are in results.csv, unfinished ones are not. Shards of one method on one test set differ
only in their images, which the resume check does not compare, so each shard's run.json
entry passes it against its siblings'; shards never share an LR image, so no row of one
shard can shadow another's.

Workers need the installed code (bsrbench and its plugins) and the test-set files at the
paths the driver gives (a shared filesystem, docs/cluster.md); the run folder itself needs
to be reachable only from the driver.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import BsrbenchError, InputError, RunError

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.runner import RunConfig

__all__ = ["INSTALL_HINT", "RayExecutor", "TaskResult", "import_ray", "run_task",
           "shard_count", "shard_tasks", "split_images"]

log = logging.getLogger("bsrbench")

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install bsrbench[ray]"
MAX_RETRIES = 3  # Ray retries of a task whose worker died (crash, OOM kill, lost node)
TASKS_PER_SLOT = 2  # automatic sharding: about this many tasks per worker slot


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
    label = f"{task.plan.label} on {Path(task.dataset).name}"
    images = task.images
    if not images:
        return label
    if len(images) == 1:
        return f"{label} (image {images[0]})"
    return f"{label} ({len(images)} images {images[0]}..{images[-1]})"


def split_images(names: Sequence[str], count: int) -> list[tuple[str, ...]]:
    """``names`` cut into ``count`` contiguous runs, in order, whose sizes differ by at most
    one (the longer ones first); fewer runs when there are fewer names, never an empty one.
    """
    count = max(1, min(count, len(names)))
    size, longer = divmod(len(names), count)
    shards: list[tuple[str, ...]] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < longer else 0)
        shards.append(tuple(names[start:end]))
        start = end
    return shards


def shard_count(images: int, shard_images: int | None, slots: int, tasks: int) -> int:
    """How many shards one method on a test set of ``images`` HR images becomes.

    Args:
        images: HR images of the test set (or of the task's own selection).
        shard_images: at most this many images per shard; None: automatic, enough shards
            over the sweep's ``tasks`` (method x test set) that each of the cluster's
            ``slots`` (GPUs, or CPUs without GPUs) gets about ``TASKS_PER_SLOT`` of them.
        slots: tasks the cluster runs at once.
        tasks: method x test set tasks in the sweep.
    """
    if images < 1:
        return 1
    if shard_images is not None:
        return math.ceil(images / shard_images)
    return max(1, min(images, math.ceil(TASKS_PER_SLOT * max(slots, 1) / max(tasks, 1))))


def shard_tasks(tasks: Sequence[RunConfig], shard_images: int | None,
                slots: int) -> list[RunConfig]:
    """Every task split into shards of contiguous HR images (``RunConfig.images``), in the
    test set's order; a task of one shard stays as it is (``images`` unchanged).

    The test sets are opened here, on the driver, for their image names only (no content
    check: the worker's runner does that). A task whose own ``images`` name an image its
    test set lacks is left whole, so its runner refuses it with the usual message.
    """
    from bsrbench.datasets import TestSet

    names: dict[Path, list[str]] = {}
    shards: list[RunConfig] = []
    for task in tasks:
        path = Path(task.dataset)
        if path not in names:
            with TestSet(path, verify=False) as ts:
                names[path] = list(ts.names)
        every = names[path]
        if task.images is not None:
            chosen = set(task.images)
            if not chosen <= set(every):
                shards.append(task)
                continue
            every = [n for n in every if n in chosen]
        count = shard_count(len(every), shard_images, slots, len(tasks))
        if count == 1:
            shards.append(task)
        else:
            shards += [replace(task, images=part) for part in split_images(every, count)]
    return shards


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
    """Runs a sweep's tasks as Ray tasks, one per shard of a test set's images, one GPU
    each where the cluster has GPUs."""

    def __init__(self, address: str | None = None, device: str = "auto",
                 max_retries: int = MAX_RETRIES, shard_images: int | None = None) -> None:
        """Import Ray now, so a missing install fails before any work.

        Args:
            address: a running cluster (``auto``, ``HOST:6379``, ``ray://HOST:10001``);
                None: join the instance this process already started, or start a local
                one with this machine's CPUs and GPUs (stopped again at the end).
            device: the device asked for (``auto``, ``cpu``, ``cuda``...), resolved on
                each worker.
            max_retries: how often Ray reruns a task whose worker died.
            shard_images: at most this many HR images per Ray task; None: automatic
                (:func:`shard_count`).

        Raises:
            InputError: Ray is not installed, or ``shard_images`` is not a positive int.
        """
        from bsrbench.executors import check_shard_images

        check_shard_images(shard_images)
        self.ray = import_ray()
        self.address = address
        self.device = device
        self.max_retries = max_retries
        self.shard_images = shard_images

    def _connect(self) -> bool:
        """Join or start Ray; return whether this call started the connection."""
        if self.ray.is_initialized():
            return False
        try:
            self.ray.init(address=self.address, include_dashboard=False,
                          logging_level=logging.WARNING, configure_logging=False)
        except ConnectionError as exc:
            raise InputError(f"cannot reach the Ray cluster at {self.address} ({exc}): start "
                             "it with `ray start --head`, or check --ray-address; a cluster "
                             "with token authentication (`ray start` of Ray 2.59 and later) "
                             "also needs RAY_AUTH_MODE=token in this shell") from None
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
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0) if self.device != "cpu" else 0
        slots = int(gpus or resources.get("CPU", 1))
        runs = len(tasks)
        tasks = shard_tasks([_absolute(task) for task in tasks], self.shard_images, slots)
        # a function declared with GPUs gets Ray's max_calls=1: its worker process ends
        # after each task, so a process whose CUDA context and cached GPU memory belong
        # to one shard's GPU never runs a later shard that Ray gave another GPU
        remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0)(run_task)
        files = ray.put(snapshot(out))
        reg = ray.put(registry)
        pending = {remote.options(max_retries=self.max_retries, retry_exceptions=False,
                                  name=_label(task)).remote(task, reg, files, self.device):
                   task for task in tasks}
        log.info("ray: %d runs in %d tasks (shards of their test sets) on %s (%s GPUs, "
                 "%d slots)", runs, len(tasks), self.address or "a local instance", gpus,
                 slots)
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

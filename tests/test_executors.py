"""Executors without Ray: the settings, the install hint when Ray is missing, and the
local executor (the sweep's behaviour before executors existed)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from bsrbench.cli import main
from bsrbench.errors import InputError
from bsrbench.executors import ExecutorConfig, make_executor
from bsrbench.executors.local import LocalExecutor
from bsrbench.results import read_table
from bsrbench.sweep import SweepConfig, run_sweep


def test_executor_config_refuses_unknown_names_and_a_stray_address():
    with pytest.raises(InputError, match="unknown executor 'slurm'"):
        ExecutorConfig("slurm")
    with pytest.raises(InputError, match="--ray-address needs --executor ray"):
        ExecutorConfig("local", ray_address="auto")
    assert isinstance(make_executor(ExecutorConfig()), LocalExecutor)


def test_sweep_config_reads_executor_keys_from_toml(tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text('methods = "bicubic"\ndatasets = "gaussian8"\nexecutor = "ray"\n'
                    'ray_address = "127.0.0.1:6379"\n')
    cfg = SweepConfig.from_sources(toml, {}, {})
    assert (cfg.executor, cfg.ray_address) == ("ray", "127.0.0.1:6379")
    assert cfg.executor_config.ray_address == "127.0.0.1:6379"
    toml.write_text('methods = "bicubic"\ndatasets = "gaussian8"\nexecutor = 1\n')
    with pytest.raises(InputError, match="executor must be str"):
        SweepConfig.from_sources(toml, {}, {})


def test_executor_ray_without_ray_is_one_line_with_the_install_hint(monkeypatch, tmp_path,
                                                                    hr_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "-m", "bicubic", "-d", "gaussian8", "--hr",
                                       str(hr_dir), "--cache-dir", str(tmp_path / "c"),
                                       "--out", str(out), "--executor", "ray", "-q"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install bsrbench[ray]" in lines[0]
    assert not out.exists()  # refused before any work


def test_local_executor_runs_every_task_into_one_folder(registry, hr_dir, tmp_path):
    cfg = SweepConfig(("bicubic",), ("gaussian8", "bicubic"), hr=(str(hr_dir),),
                      out=tmp_path / "run", cache_dir=tmp_path / "c", metrics=("psnr",))
    result = run_sweep(cfg, registry, quiet=True)
    rows = read_table(result.results).rows
    assert result.failed == 0
    # 2 HR images: 8 Gaussian8 kernels each, and 1 LR each for the bicubic protocol
    assert sorted({r["dataset"] for r in rows}) == ["bicubic/hr", "gaussian8/hr"]
    assert len(rows) == 2 * 8 + 2


def test_executor_config_shard_images_is_a_positive_int_for_ray_only():
    assert ExecutorConfig("ray", shard_images=3).shard_images == 3
    assert ExecutorConfig("ray").shard_images is None  # automatic
    for bad in (0, -2, 1.5, "4", True):
        with pytest.raises(InputError, match="--ray-shard must be a positive number of HR "
                                             "images per task, got"):
            ExecutorConfig("ray", shard_images=bad)
    with pytest.raises(InputError, match="--ray-shard needs --executor ray"):
        ExecutorConfig("local", shard_images=2)


@pytest.mark.parametrize("n", range(1, 12))
@pytest.mark.parametrize("count", [1, 2, 3, 5, 11, 20])
def test_split_images_is_contiguous_covers_every_name_once_and_balances_sizes(n, count):
    from bsrbench.executors.ray import split_images

    names = [f"img{i:02d}" for i in range(n)]
    shards = split_images(names, count)
    assert len(shards) == min(n, count)
    assert [name for shard in shards for name in shard] == names  # in order, each once
    sizes = [len(shard) for shard in shards]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_shard_count_from_a_size_or_from_the_cluster_slots():
    from bsrbench.executors.ray import shard_count

    assert [shard_count(10, size, 4, 1) for size in (1, 3, 4, 10, 50)] == [10, 4, 3, 1, 1]
    # automatic: about 2 tasks per slot over the sweep's method x test set runs
    assert shard_count(100, None, 4, 1) == 8  # 1 run, 4 slots: 8 shards
    assert shard_count(100, None, 4, 3) == 3  # 3 runs: 9 tasks for 8 wanted
    assert shard_count(100, None, 8, 16) == 1  # already 2 runs per slot: no split
    assert shard_count(5, None, 16, 1) == 5  # never below one image per shard
    assert shard_count(0, None, 4, 1) == 1  # nothing to split


def test_shard_tasks_splits_each_run_by_its_test_sets_names(registry, tmp_path):
    from bsrbench.compose import plan_method
    from bsrbench.executors.ray import shard_tasks
    from bsrbench.runner import RunConfig

    names = [f"im{i}" for i in range(7)]
    dataset = _test_set(registry, tmp_path, names)
    task = RunConfig(plan_method(registry, "bicubic"), dataset, tmp_path / "run")
    shards = shard_tasks([task], 3, slots=2)
    assert [s.images for s in shards] == [("im0", "im1", "im2"), ("im3", "im4"),
                                          ("im5", "im6")]
    assert all(s.plan is task.plan and s.out == task.out for s in shards)
    assert [s.images for s in shard_tasks([task], None, slots=1)] == [
        ("im0", "im1", "im2", "im3"), ("im4", "im5", "im6")]
    assert shard_tasks([task], 7, slots=2) == [task]  # one shard: the task as it was
    # a task's own selection is split in the test set's order
    subset = RunConfig(task.plan, dataset, task.out, images=("im6", "im1", "im4"))
    assert [s.images for s in shard_tasks([subset], 1, slots=2)] == [
        ("im1",), ("im4",), ("im6",)]
    stray = RunConfig(task.plan, dataset, task.out, images=("im1", "nope"))
    assert shard_tasks([stray], 1, slots=2) == [stray]  # its runner names the bad name


class FakeRay:
    """Just enough of the ``ray`` module for the executor to run in this process: an
    initialized cluster with 16 CPUs and ``gpus`` GPUs; a task runs when its result is
    asked for. Records the resources the task function was declared with and every call.
    """

    class exceptions:  # as ray.exceptions
        class RayTaskError(Exception):
            pass

        class WorkerCrashedError(Exception):
            pass

        class NodeDiedError(Exception):
            pass

    def __init__(self, gpus: int):
        self.gpus = gpus
        self.declared: list[dict] = []
        self.calls: list[tuple] = []  # (options, args) of each submitted task
        self._pending: dict[object, tuple] = {}

    def is_initialized(self):
        return True

    def cluster_resources(self):
        return {"CPU": 16.0, **({"GPU": float(self.gpus)} if self.gpus else {})}

    def put(self, value):
        return value

    def remote(self, **declared):
        fake = self

        def wrap(fn):
            fake.declared.append(declared)

            class Call:
                def __init__(self, opts):
                    self.opts = opts

                def remote(self, *args):
                    ref = object()
                    fake.calls.append((self.opts, args))
                    fake._pending[ref] = (fn, args)
                    return ref

            class Remote:
                def options(self, **opts):
                    return Call(opts)

            return Remote()

        return wrap

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        fn, args = self._pending.pop(ref)
        return fn(*args)

    def cancel(self, ref, force):
        self._pending.pop(ref, None)


@pytest.mark.parametrize(("device", "gpus", "shards"), [
    ("auto", 1, [None, None]),  # 1 GPU slot, 2 runs: already ~2 tasks per slot
    ("cpu", 1, [("colour",), ("grey",)] * 2),  # cpu: 16 CPU slots, split to 1 image
    ("auto", 0, [("colour",), ("grey",)] * 2),  # no GPU: 16 CPU slots
])
def test_ray_executor_shards_by_its_slots_and_declares_gpu_tasks(registry, hr_dir, tmp_path,
                                                                 monkeypatch, device, gpus,
                                                                 shards):
    fake = FakeRay(gpus)
    monkeypatch.setitem(sys.modules, "ray", fake)
    cfg = SweepConfig(("bicubic",), ("gaussian8", "bicubic"), hr=(str(hr_dir),),
                      out=tmp_path / "run", cache_dir=tmp_path / "c", metrics=("psnr",),
                      executor="ray", device=device)
    result = run_sweep(cfg, registry, quiet=True)
    assert fake.declared == [{"num_cpus": 1, "num_gpus": 1 if gpus and device != "cpu"
                              else 0}]
    assert [args[0].images for _, args in fake.calls] == shards
    assert {args[3] for _, args in fake.calls} == {device}  # resolved on the worker
    assert all(opts["max_retries"] == 3 for opts, _ in fake.calls)
    assert result.failed == 0 and len(read_table(result.results).rows) == 2 * 8 + 2


def _test_set(registry, tmp_path, names):
    """A bicubic x2 test set of small flat grey HR images called ``names``."""
    import numpy as np
    from PIL import Image

    from bsrbench.datasets import resolve_dataset

    folder = tmp_path / "hr-many"
    folder.mkdir()
    for i, name in enumerate(names):
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(folder / f"{name}.png")
    return resolve_dataset(registry, "bicubic", hr=folder, scale=2,
                           cache_dir=tmp_path / "cache")

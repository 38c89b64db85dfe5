"""The Ray executor on a local Ray instance this module starts (2 CPUs, loopback only):
the same rows as the local executor with test sets split into shards of images, a killed
worker retried without duplicate rows, and resume after an interrupted driver, across
executors both ways. With 2 CPU slots and the 2-image test set, automatic sharding makes
every method x test set two one-image tasks."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bsrbench import MethodSpec, Step, hookimpl
from bsrbench.errors import Interrupted
from bsrbench.registry import load_registry
from bsrbench.results import KEY, read_table
from bsrbench.sweep import SweepConfig, run_sweep

ray = pytest.importorskip("ray")


class Sharper:
    """A fast fake iterative method: bicubic, then one slightly brighter step."""

    def run(self, batch):
        from bsrbench.resize import imresize

        up = imresize(batch.lr, batch.scale)
        for i in range(2):
            yield Step(sr=up * (1 + 0.01 * i))


class KillsItsWorkerOnce(Sharper):
    """Kills its own process the first time it runs (the marker file records that), then
    behaves as :class:`Sharper`: a worker dying mid-task, once."""

    def __init__(self, marker: Path):
        self.marker = marker

    def run(self, batch):
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        yield from super().run(batch)


class FakePlugin:
    def __init__(self, marker: Path):
        self.marker = marker

    @hookimpl
    def bsrbench_methods(self):
        marker = self.marker
        return [MethodSpec("sharper", "2 steps", "-", "MIT", (4,),
                           factory=lambda ctx: Sharper(), iterative=True),
                MethodSpec("killer", "dies once", "-", "MIT", (4,),
                           factory=lambda ctx: KillsItsWorkerOnce(marker), iterative=True)]


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module: 2 CPUs, bound to the loopback address."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def reg(tmp_path):
    return load_registry(extra=[FakePlugin(tmp_path / "killed-once")])


def _sweep(reg, hr_dir, tmp_path, out, methods, executor, **kw):
    cfg = SweepConfig(tuple(methods), ("gaussian8",), hr=(str(hr_dir),), out=tmp_path / out,
                      cache_dir=tmp_path / "cache", metrics=("psnr",), executor=executor,
                      device="cpu", **kw)
    return run_sweep(cfg, reg, quiet=True)


def _shard_size(monkeypatch, size):
    """Make the sweep's Ray executor use ``size`` images per shard (the executor setting
    the sweep passes on; None: automatic)."""
    import bsrbench.executors as executors

    make = executors.make_executor
    monkeypatch.setattr(executors, "make_executor", lambda cfg: make(
        replace(cfg, shard_images=size) if cfg.name == "ray" else cfg))


def _runs(out: Path) -> list[dict]:
    return json.loads((out / "run.json").read_text())["runs"]


def _rows(out: Path) -> list[tuple]:
    """The rows without their timing and run columns, in key order; each key once."""
    rows = read_table(out / "results.csv").rows
    keys = [tuple(r[c] for c in (*KEY, "step")) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate rows"
    return sorted(tuple((c, v) for c, v in r.items() if c not in {"seconds", "run_id"})
                  for r in rows)


def test_ray_executor_writes_the_rows_of_the_local_executor(ray_instance, reg, hr_dir,
                                                            tmp_path, monkeypatch):
    _shard_size(monkeypatch, 1)  # every test set in shards of one HR image
    local = _sweep(reg, hr_dir, tmp_path, "local", ["bicubic", "sharper"], "local",
                   save_images=True)
    remote = _sweep(reg, hr_dir, tmp_path, "ray", ["bicubic", "sharper"], "ray",
                    save_images=True)
    assert remote.failed == local.failed == 0
    rows = _rows(remote.results.parent)
    assert len(rows) == 2 * 8 * (1 + 2)  # 2 HR x 8 kernels x (bicubic 1 + sharper 2 steps)
    assert rows == _rows(local.results.parent)
    runs = _runs(tmp_path / "ray")  # one entry per shard: each method in one-image runs
    assert sorted((r["method"], *r["images"]) for r in runs) == [
        (m, image) for m in ("bicubic", "sharper") for image in ("colour", "grey")]
    assert all("finished" in r for r in runs)
    assert [r["images"] for r in _runs(tmp_path / "local")] == [None, None]
    images = {p.relative_to(tmp_path / "ray"): p.read_bytes()
              for p in (tmp_path / "ray" / "images").rglob("*") if p.is_file()}
    assert len(images) > 2 * 8 * 3  # HR, LR and every step's SR came back to the driver
    assert images == {p.relative_to(tmp_path / "local"): p.read_bytes()
                      for p in (tmp_path / "local" / "images").rglob("*") if p.is_file()}


def test_ray_executor_retries_a_killed_worker_without_duplicate_rows(ray_instance, reg,
                                                                     hr_dir, tmp_path):
    marker = tmp_path / "killed-once"
    remote = _sweep(reg, hr_dir, tmp_path, "ray", ["killer"], "ray")
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker died
    local = _sweep(reg, hr_dir, tmp_path, "local", ["killer"], "local")  # marker: no kill
    assert len(_rows(remote.results.parent)) == 2 * 8 * 2
    assert _rows(remote.results.parent) == _rows(local.results.parent)
    # automatic sharding, 2 slots: two one-image shards; the dead try recorded nothing
    runs = _runs(tmp_path / "ray")
    assert sorted(image for r in runs for image in r["images"]) == ["colour", "grey"]
    assert all(len(r["images"]) == 1 and "finished" in r for r in runs)


def test_ray_resumes_an_interrupted_driver_and_either_executor_finishes(
        ray_instance, reg, hr_dir, tmp_path, monkeypatch):
    import bsrbench.executors.ray as ray_executor

    reference = _rows(_sweep(reg, hr_dir, tmp_path, "local", ["bicubic", "sharper"],
                             "local").results.parent)
    append = ray_executor._append

    def append_then_interrupt(*args):
        append(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_executor, "_append", append_then_interrupt)
    with pytest.raises(Interrupted):
        _sweep(reg, hr_dir, tmp_path, "a", ["bicubic", "sharper"], "ray")
    first = read_table(tmp_path / "a" / "results.csv").rows
    # one task's rows, all of them: one method on one HR image (a one-image shard)
    assert len({(r["method"], r["image"]) for r in first}) == 1
    assert len(first) in (8, 8 * 2)
    monkeypatch.setattr(ray_executor, "_append", append)
    _sweep(reg, hr_dir, tmp_path, "a", ["bicubic", "sharper"], "local")  # ray -> local
    assert _rows(tmp_path / "a") == reference
    kept = {r["run_id"] for r in read_table(tmp_path / "a" / "results.csv").rows[:len(first)]}
    assert kept == {first[0]["run_id"]}  # the interrupted run's rows were not recomputed

    _sweep(reg, hr_dir, tmp_path, "b", ["sharper"], "local")  # local -> ray
    before = read_table(tmp_path / "b" / "results.csv").rows
    _sweep(reg, hr_dir, tmp_path, "b", ["bicubic", "sharper"], "ray")
    after = read_table(tmp_path / "b" / "results.csv").rows
    assert after[:len(before)] == before and len(after) == len(before) + 2 * 8
    assert _rows(tmp_path / "b") == reference


def test_cli_run_executor_ray_joins_the_running_instance(ray_instance, hr_dir, tmp_path,
                                                         monkeypatch):
    from click.testing import CliRunner

    from bsrbench.cli import main

    monkeypatch.chdir(tmp_path)  # relative --cache-dir: workers get absolute paths
    result = CliRunner().invoke(main, ["run", "-m", "bicubic", "-d", "gaussian8", "--hr",
                                       str(hr_dir), "--cache-dir", "cache", "--out", "run",
                                       "--metrics", "psnr", "--executor", "ray", "-q"])
    assert result.exit_code == 0, result.output
    assert len(read_table(tmp_path / "run" / "results.csv").rows) == 2 * 8
    assert ray.is_initialized()  # an instance it did not start is left running


def test_ray_worker_user_error_reaches_the_driver_as_itself(ray_instance, reg, hr_dir,
                                                            tmp_path):
    from bsrbench.errors import InputError

    _sweep(reg, hr_dir, tmp_path, "run", ["sharper"], "local")
    cfg = SweepConfig(("sharper",), ("gaussian8",), hr=(str(hr_dir),), out=tmp_path / "run",
                      cache_dir=tmp_path / "cache", metrics=("psnr",), executor="ray",
                      device="cpu", batch_size=4)
    before = (tmp_path / "run" / "results.csv").read_bytes()
    with pytest.raises(InputError, match="made with other batch size"):
        run_sweep(cfg, reg, quiet=True)
    assert (tmp_path / "run" / "results.csv").read_bytes() == before

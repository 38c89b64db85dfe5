"""Executors: where the runs of a sweep execute.

A sweep (:mod:`bsrbench.sweep`) turns its methods x test sets into a sequence of
:class:`~bsrbench.runner.RunConfig` tasks; an executor runs them and reports the failed LR
images. Two exist:

- :class:`~bsrbench.executors.local.LocalExecutor` (``--executor local``, the default):
  one task after the other in this process, each appending its rows as it goes;
- :class:`~bsrbench.executors.ray.RayExecutor` (``--executor ray``): the tasks spread
  over a Ray cluster, each split into shards of its test set's HR images
  (``shard_images``). Workers compute rows in a scratch copy of the run folder and return
  them; this process alone appends them to the run folder, so the folder lock and the
  append-only results.csv keep a single writer (docs/cluster.md).

Ray is an optional extra (``pip install bsrbench[ray]``); it is imported only when the
Ray executor runs, never by listing or by the local executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bsrbench.errors import InputError

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.runner import RunConfig

__all__ = ["EXECUTORS", "Executor", "ExecutorConfig", "check_shard_images", "make_executor"]

EXECUTORS = ("local", "ray")


def check_shard_images(value: object) -> None:
    """Refuse a shard size (``--ray-shard``) that is not a positive whole number of images.

    Raises:
        InputError: ``value`` is neither None nor an int of at least 1.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--ray-shard must be a positive number of HR images per task, "
                         f"got {value!r}")


@dataclass(frozen=True)
class ExecutorConfig:
    """How a sweep's tasks run (``--executor``, ``--ray-address``, ``--ray-shard``)."""

    name: str = "local"  # one of EXECUTORS
    ray_address: str | None = None  # a running cluster ("auto", "HOST:6379"); None: start one
    # the device the user asked for ("auto", "cpu", "cuda"): Ray workers resolve it on their
    # own machine, which may have a GPU where the driver has none
    device: str = "auto"
    # Ray only: at most this many HR images of a test set per Ray task (a shard); None:
    # automatic, about two tasks per worker slot (GPUs, or CPUs without GPUs)
    shard_images: int | None = None

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise InputError(f"unknown executor {self.name!r}: use one of "
                             f"{', '.join(EXECUTORS)}")
        if self.ray_address is not None and self.name != "ray":
            raise InputError("--ray-address needs --executor ray")
        check_shard_images(self.shard_images)
        if self.shard_images is not None and self.name != "ray":
            raise InputError("--ray-shard needs --executor ray")


class Executor(Protocol):
    """Runs the tasks of one sweep into one run folder."""

    def run(self, tasks: Iterable[RunConfig], registry: Registry, out: Path) -> int:
        """Run every task (all with ``out`` as their run folder, which the caller holds
        locked) and return the number of failed LR images."""
        ...


def make_executor(cfg: ExecutorConfig) -> Executor:
    """The executor ``cfg`` names.

    Raises:
        InputError: the Ray executor was asked for and Ray is not installed.
    """
    if cfg.name == "ray":
        from bsrbench.executors.ray import RayExecutor

        return RayExecutor(address=cfg.ray_address, device=cfg.device,
                           shard_images=cfg.shard_images)
    from bsrbench.executors.local import LocalExecutor

    return LocalExecutor()

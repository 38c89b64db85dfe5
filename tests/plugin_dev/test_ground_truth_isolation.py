"""Blind isolation, proven: what reaches every registered method, estimator and model.

Each registered part runs through ``bsrbench run`` on a tiny noisy Gaussian8 set (one
48x48 HR image, x4, noise 5) with spies: every factory is wrapped so the object it builds
records each ``LRBatch`` (methods, estimators) and each noise level (models) it receives.
Only specs declaring ``uses_ground_truth=True`` may ever see ``batch.kernels``, and only
specs declaring ``uses_noise_level=True`` may ever see the true noise. The parts are read
from the registry itself (built-ins, every installed plugin) plus a freshly scaffolded
method and estimator; estimators run composed with a test-only nearest-neighbour model,
models with the scaffolded (blind) estimator. Parts without weights at x4 are skipped
with that reason.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from bsrbench import ModelSpec, hookimpl
from bsrbench.plugin_dev import create_plugin
from bsrbench.registry import Registry, load_registry

SCALE = 4
SCAFFOLDED = {"method": "spysr", "estimator": "spyest"}
NEAREST = "spy.nearest"  # the test-only model that estimators are composed with


@dataclass
class Seen:
    """What reached one built part during one run."""

    calls: int = 0
    kernels: bool = False  # some LRBatch carried ground-truth kernels
    noise: bool = False  # some LRBatch (or restore call) carried the true noise level


class _Spy:
    """Delegates everything to the built object; records what its entry point receives."""

    def __init__(self, inner: Any, seen: Seen) -> None:
        self._inner, self._seen = inner, seen

    def __getattr__(self, name: str) -> Any:  # kernel_size, encode_kernel, code_space...
        return getattr(self._inner, name)

    def _record(self, batch: Any) -> None:
        self._seen.calls += 1
        self._seen.kernels |= batch.kernels is not None
        self._seen.noise |= batch.noise is not None


class SpyMethod(_Spy):
    def run(self, batch: Any) -> Iterator[Any]:
        self._record(batch)
        yield from self._inner.run(batch)


class SpyEstimator(_Spy):
    def estimate(self, batch: Any) -> Iterator[Any]:
        self._record(batch)
        yield from self._inner.estimate(batch)


class SpyModel(_Spy):
    def restore(self, lr: Any, estimate: Any, noise: Any = None) -> Any:
        self._seen.calls += 1
        self._seen.noise |= noise is not None
        return self._inner.restore(lr, estimate, noise)


ROLES = {"method": ("methods", SpyMethod), "estimator": ("estimators", SpyEstimator),
         "model": ("models", SpyModel)}


def _spied(registry: Registry, seen: dict[tuple[str, str], Seen]) -> Registry:
    """``registry`` with every method, estimator and model factory wrapped by a spy."""
    def wrap(role: str, spec: Any, spy: type[_Spy]) -> Callable[[Any], Any]:
        @functools.wraps(spec.factory)  # keeps __module__ for anything that looks it up
        def factory(ctx: Any) -> Any:
            return spy(spec.factory(ctx), seen.setdefault((role, spec.name), Seen()))

        return factory

    for role, (attr, spy) in ROLES.items():
        table = getattr(registry, attr)
        for name, spec in table.items():
            table[name] = dataclasses.replace(spec, factory=wrap(role, spec, spy))
    return registry


class _Nearest:
    kernel_size = 21

    def restore(self, lr: Any, estimate: Any, noise: Any = None) -> Any:
        return lr.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)


def _test_model_plugin() -> types.ModuleType:
    mod = types.ModuleType("spy_model_plugin")
    mod.bsrbench_models = hookimpl(lambda: [ModelSpec(
        NEAREST, "nearest-neighbour upsampling that ignores the kernel (a test double)", "-",
        "MIT", (2, 3, 4), factory=lambda ctx: _Nearest(), kernel_conversion="center-crop")])
    return mod


def _load(root: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"bsrbench_{name}", root / f"bsrbench_{name}" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parts() -> list[tuple[str, str]]:
    reg = load_registry()
    return ([("method", n) for n in reg.list("method")]
            + [("estimator", n) for n in reg.list("estimator")]
            + [("model", n) for n in reg.list("model")]
            + [(role, name) for role, name in SCAFFOLDED.items()])


PARTS = _parts()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    """The scaffolded plugins, the tiny HR folder, the dataset cache and the run cache."""
    import numpy as np
    from PIL import Image

    tmp = tmp_path_factory.mktemp("isolation")
    plugins = [_load(create_plugin(name, role, tmp / "plugins"), name)
               for role, name in SCAFFOLDED.items()]
    hr = tmp / "hr"
    hr.mkdir()
    y, x = np.mgrid[0:48, 0:48]
    img = 127 + 60 * np.sin(x / 4.0)[..., None] * np.cos(y / 6.0)[..., None] * [1, 0.8, 0.6]
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(hr / "tiny.png")
    return {"tmp": tmp, "plugins": [*plugins, _test_model_plugin()], "hr": hr, "runs": {}}


def _short(spec: Any) -> list[str]:
    """``-O steps=1`` (or ``iterations=1``) for a part with such a loop option."""
    return [f"{o.name}=1" for o in spec.options if o.name in ("steps", "iterations")]


def _run(world: dict[str, Any], role: str, name: str,
         monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], Seen]:
    """Run ``name`` once per module (cached) and return what reached each spied part."""
    if (role, name) in world["runs"]:
        return world["runs"][role, name]
    import bsrbench.registry as registry_module
    from bsrbench.cli import main

    seen: dict[tuple[str, str], Seen] = {}
    real = registry_module.load_registry
    reg = real(extra=world["plugins"])
    partner = {"method": None, "estimator": NEAREST, "model": SCAFFOLDED["estimator"]}[role]
    parts = [reg.get(role, name)]
    if partner is not None:
        parts.append(reg.get("estimator" if role == "model" else "model", partner))
    for spec in parts:
        avail = spec.weights_available
        if avail is not None and not avail(SCALE):
            pytest.skip(f"no weights for x{SCALE} ({spec.name}: weights_available({SCALE}) "
                        "is False)")
    monkeypatch.setattr(registry_module, "load_registry",
                        lambda **kw: _spied(real(extra=world["plugins"]), seen))
    monkeypatch.setenv("BSRBENCH_CACHE", str(world["tmp"] / "cache"))
    method = name if role != "estimator" else NEAREST
    args = ["run", "--method", method, "--dataset", "gaussian8", "--hr", str(world["hr"]),
            "--scale", str(SCALE), "--noise", "5", "--seed", "0", "--device", "cpu",
            "--out", str(world["tmp"] / "runs" / f"{role}-{name}"), "-q"]
    if role == "estimator":
        args += ["--kernel", name]
    elif role == "model":
        args += ["--kernel", partner]
    for option in sorted({o for spec in parts for o in _short(spec)}):
        args += ["-O", option]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(main, args)
    finally:
        torch.set_num_threads(threads)
    # exit 1 (failed rows: a part that errs on these inputs) still shows what reached it
    assert res.exit_code in (0, 1), f"{' '.join(args)}\n{res.output}"
    assert seen.get((role, name), Seen()).calls > 0, (
        f"the spy on {name} saw no call: {' '.join(args)}\n{res.output}")
    world["runs"][role, name] = seen
    return seen


def _declares(reg: Registry, role: str, name: str, flag: str) -> bool:
    return bool(getattr(reg.get(role, name), flag, False))


def _ids(part: tuple[str, str]) -> str:
    role, name = part
    return f"{role}-{name}" + ("-scaffolded" if SCAFFOLDED.get(role) == name else "")


@pytest.mark.parametrize("part", PARTS, ids=_ids)
def test_ground_truth_reaches_only_declared_parts(world, monkeypatch, part):
    seen = _run(world, *part, monkeypatch)
    reg = load_registry(extra=world["plugins"])
    for (role, name), got in seen.items():
        declared = _declares(reg, role, name, "uses_ground_truth")  # models: never
        assert got.kernels == declared, (
            f"{role} {name!r} (uses_ground_truth={declared}) "
            f"{'received' if got.kernels else 'never received'} batch.kernels")


@pytest.mark.parametrize("part", PARTS, ids=_ids)
def test_true_noise_reaches_only_declared_parts(world, monkeypatch, part):
    seen = _run(world, *part, monkeypatch)
    reg = load_registry(extra=world["plugins"])
    for (role, name), got in seen.items():
        declared = _declares(reg, role, name, "uses_noise_level")
        assert got.noise == declared, (
            f"{role} {name!r} (uses_noise_level={declared}) "
            f"{'received' if got.noise else 'never received'} the true noise level")


def test_isolation_covers_every_registered_part_and_the_scaffolded_plugin():
    reg = load_registry()
    covered = set(PARTS)
    assert {("method", n) for n in reg.methods} <= covered
    assert {("estimator", n) for n in reg.estimators} <= covered
    assert {("model", n) for n in reg.models} <= covered
    assert {("method", "spysr"), ("estimator", "spyest")} <= covered
    assert {("method", "bicubic"), ("estimator", "oracle"), ("estimator", "ikc")} <= covered

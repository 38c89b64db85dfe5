"""The plugin host: hooks, entry points, duplicates, disabling, name errors."""

from __future__ import annotations

import sys
import types

import pytest

from bsrbench import MethodSpec, hookimpl
from bsrbench.errors import PluginError, UnknownNameError
from bsrbench.registry import load_registry


def _method_plugin(name: str, method: str) -> types.ModuleType:
    mod = types.ModuleType(name)

    @hookimpl
    def bsrbench_methods():
        return [MethodSpec(method, "test", "-", "MIT", (4,), factory=lambda ctx: None)]

    mod.bsrbench_methods = bsrbench_methods
    return mod


def test_registry_builtin_plugins_register_through_entry_points(registry):
    names = {p.name: p for p in registry.plugins}
    assert {"bsrbench", "bicubic", "ikc", "srmd"} <= set(names)
    assert "method:bicubic" in names["bicubic"].provides
    assert "estimator:oracle" in names["bsrbench"].provides
    assert {"bicubic", "gaussian8"} <= set(registry.list("protocol"))
    assert {"protocol:bicubic", "protocol:gaussian8"} <= set(names["bsrbench"].provides)
    assert "protocol:div2krk" in names["protocols"].provides  # a built-in plugin's
    assert registry.list("degradation") == ["direct", "matlab-bicubic", "pil-bicubic"]


def test_registry_unknown_name_suggests_close_match(registry):
    with pytest.raises(UnknownNameError, match="did you mean 'bicubic'"):
        registry.get("method", "bicubc")


def test_registry_duplicate_name_is_reported_and_first_wins():
    first, second = _method_plugin("p1", "dup"), _method_plugin("p2", "dup")
    reg = load_registry(autoload=False, extra=[first, second])
    errors = [p.error for p in reg.plugins if p.error]
    assert len(errors) == 1 and "already registered" in errors[0]
    assert "dup" in reg.methods


def test_registry_invalid_name_is_reported_against_the_plugin():
    reg = load_registry(autoload=False, extra=[_method_plugin("bad", "Bad Name")])
    assert any(p.error and "invalid" in p.error for p in reg.plugins)
    assert "Bad Name" not in reg.methods


def test_registry_unknown_hook_is_rejected():
    mod = types.ModuleType("typo")

    @hookimpl
    def bsrbench_methodz():
        return []

    mod.bsrbench_methodz = bsrbench_methodz
    with pytest.raises(PluginError, match="unknown hook"):
        load_registry(autoload=False, extra=[mod])


def test_registry_autoload_can_be_disabled(monkeypatch):
    monkeypatch.setenv("BSRBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = load_registry()
    assert [p.name for p in reg.plugins] == ["bsrbench"]
    assert "bicubic" not in reg.methods


def test_registry_named_plugins_can_be_disabled(monkeypatch):
    monkeypatch.setenv("BSRBENCH_DISABLE_PLUGINS", "srmd, ikc")
    reg = load_registry()
    assert "srmd" not in reg.models and "ikc" not in reg.methods
    assert "bicubic" in reg.methods


def test_registry_import_error_keeps_other_plugins(monkeypatch):
    from importlib import metadata

    real = metadata.entry_points

    class BrokenEP:
        name, value, group = "broken", "bsrbench_does_not_exist", "bsrbench"
        dist = types.SimpleNamespace(name="bsrbench-broken", version="9.9")

        def load(self):
            raise ImportError("No module named 'bsrbench_does_not_exist'")

    def fake(group=None, **kw):
        eps = list(real(group=group, **kw)) if group else real(**kw)
        return [*eps, BrokenEP()] if group == "bsrbench" else eps

    monkeypatch.setattr(metadata, "entry_points", fake)
    reg = load_registry()
    broken = next(p for p in reg.plugins if p.name == "broken")
    assert broken.distribution == "bsrbench-broken"
    assert "No module named" in broken.error
    assert "bicubic" in reg.methods


def test_import_bsrbench_stays_light():
    code = ("import sys, bsrbench, bsrbench.registry; "
            "print(any(m in sys.modules for m in ('torch', 'h5py', 'pandas')))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_registry_third_party_cannot_shadow_a_builtin(monkeypatch):
    from importlib import metadata

    real = metadata.entry_points
    shadow = _method_plugin("aaa_shadow", "bicubic")

    class ShadowEP:
        name, value, group = "aaa", "aaa_shadow", "bsrbench"
        dist = types.SimpleNamespace(name="bsrbench-aaa", version="1.0")

        def load(self):
            return shadow

    def fake(group=None, **kw):
        eps = list(real(group=group, **kw)) if group else real(**kw)
        return [ShadowEP(), *eps] if group == "bsrbench" else eps

    monkeypatch.setattr(metadata, "entry_points", fake)
    reg = load_registry()
    assert reg.methods["bicubic"].summary != "test"  # the built-in kept its name
    aaa = next(p for p in reg.plugins if p.name == "aaa")
    assert "already registered" in aaa.error and aaa.distribution == "bsrbench-aaa"

"""The plugin manager and the registry built from its hooks.

Nothing here runs at import time: :func:`get_plugin_manager` builds a fresh manager and
:func:`load_registry` asks every plugin for its specs. Built-in plugins (``bicubic``,
``ikc``, ``srmd``) arrive through the same ``bsrbench`` entry-point group as third-party
ones; only the core's own plugin (:mod:`bsrbench.builtin`: oracle, downsamplers,
protocols, metrics) is registered directly.

Environment (as pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` / ``-p no:NAME``):
- ``BSRBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry points at all;
- ``BSRBENCH_DISABLE_PLUGINS=name,...`` skips the named entry points.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from bsrbench import hookspecs
from bsrbench.errors import PluginError, UnknownNameError
from bsrbench.specs import (
    DegradationSpec,
    EstimatorSpec,
    MethodSpec,
    MetricSpec,
    ModelSpec,
    ProtocolSpec,
    check_metadata,
    check_name,
)

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "Registry", "get_plugin_manager", "load_registry"]

ENTRY_POINT_GROUP = "bsrbench"

# hook name -> (registry attribute, spec type, what it is called in messages)
_KINDS: dict[str, tuple[str, type, str]] = {
    "bsrbench_methods": ("methods", MethodSpec, "method"),
    "bsrbench_models": ("models", ModelSpec, "model"),
    "bsrbench_estimators": ("estimators", EstimatorSpec, "estimator"),
    "bsrbench_degradations": ("degradations", DegradationSpec, "degradation"),
    "bsrbench_protocols": ("protocols", ProtocolSpec, "protocol"),
    "bsrbench_metrics": ("metrics", MetricSpec, "metric"),
}


@dataclass
class PluginInfo:
    """What `bsrbench plugins` shows about one plugin."""

    name: str  # entry-point name (or "bsrbench" for the core plugin)
    distribution: str  # the pip distribution that provides it
    version: str  # that distribution's version
    provides: list[str] = field(default_factory=list)  # "method:ikc", "estimator:oracle", ...
    error: str | None = None  # why it failed to load; None when it loaded


@dataclass
class Registry:
    """Everything the loaded plugins provide, by name."""

    methods: dict[str, MethodSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    estimators: dict[str, EstimatorSpec] = field(default_factory=dict)
    degradations: dict[str, DegradationSpec] = field(default_factory=dict)
    protocols: dict[str, ProtocolSpec] = field(default_factory=dict)
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    train_commands: list[Any] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Any:
        """Return the spec ``name`` of ``kind`` ("method", "model", ...), or raise
        :class:`UnknownNameError` with a "did you mean" suggestion."""
        attr = {k[2]: k[0] for k in _KINDS.values()}[kind]
        table: dict[str, Any] = getattr(self, attr)
        if name not in table:
            raise UnknownNameError(kind, name, table)
        return table[name]

    def list(self, kind: str, pattern: str = "*") -> list[str]:
        """Names of ``kind`` matching an fnmatch ``pattern``, sorted."""
        attr = {k[2]: k[0] for k in _KINDS.values()}[kind]
        return sorted(n for n in getattr(self, attr) if fnmatch.fnmatch(n, pattern))


def _disabled() -> set[str]:
    raw = os.environ.get("BSRBENCH_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def get_plugin_manager(
    *, autoload: bool | None = None, extra: Iterable[object] = ()
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Build a fresh plugin manager.

    Args:
        autoload: load the ``bsrbench`` entry points; default: unless
            ``BSRBENCH_DISABLE_PLUGIN_AUTOLOAD`` is set.
        extra: plugin objects (modules or instances) to register directly, e.g. in tests.

    Returns:
        The manager and one :class:`PluginInfo` per plugin it tried, failures included:
        a plugin that fails to import is recorded with its error and the rest keep working.
    """
    from bsrbench import __version__, builtin

    pm = pluggy.PluginManager("bsrbench")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="bsrbench")
    infos = [PluginInfo("bsrbench", "bsrbench", __version__)]
    if autoload is None:
        autoload = not os.environ.get("BSRBENCH_DISABLE_PLUGIN_AUTOLOAD")
    if autoload:
        disabled = _disabled()
        seen: set[str] = set()
        # bsrbench's own plugins first, so a third-party name can never shadow a built-in
        def order(ep: metadata.EntryPoint) -> tuple[bool, str]:
            return (ep.dist is None or ep.dist.name != "bsrbench", ep.name)

        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order):
            if ep.name in disabled or ep.name in seen:
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            info = PluginInfo(ep.name, dist, version)
            infos.append(info)
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must not take the others down
                info.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for obj in extra:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        pm.register(obj, name=name)
        infos.append(PluginInfo(name, "(registered directly)", "-"))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from None
    return pm, infos


def load_registry(
    *, autoload: bool | None = None, extra: Iterable[object] = ()
) -> Registry:
    """Build the plugin manager and collect every plugin's specs into a :class:`Registry`.

    A duplicate name or an invalid spec is reported against the plugin that returned it
    (its :attr:`PluginInfo.error`) and that spec is dropped; the first registration wins.
    """
    pm, infos = get_plugin_manager(autoload=autoload, extra=extra)
    reg = Registry(plugins=infos)
    by_name = {i.name: i for i in infos}
    owners: dict[tuple[str, str], str] = {}
    for hook_name, (attr, spec_type, what) in _KINDS.items():
        hook = getattr(pm.hook, hook_name)
        # call each implementation alone, so one failing plugin cannot hide the others, in
        # registration order (core, then entry points by name), so the first name wins
        for impl in hook.get_hookimpls():
            pname = pm.get_name(impl.plugin) or "?"
            info = by_name.get(pname)
            try:
                specs = impl.function() or []
                for spec in specs:
                    if not isinstance(spec, spec_type):
                        raise PluginError(f"{hook_name} returned {type(spec).__name__}, "
                                          f"expected {spec_type.__name__}")
                    check_name(spec.name, what)
                    if isinstance(spec, (MethodSpec, ModelSpec, EstimatorSpec)):
                        check_metadata(spec, what)
                    key = (attr, spec.name)
                    if key in owners:
                        raise PluginError(f"{what} {spec.name!r} is already registered by "
                                          f"plugin {owners[key]!r}")
                    owners[key] = pname
                    getattr(reg, attr)[spec.name] = spec
                    if info is not None:
                        info.provides.append(f"{what}:{spec.name}")
            except Exception as exc:
                msg = f"{hook_name}: {exc}".splitlines()[0]
                if info is not None:
                    info.error = msg if info.error is None else f"{info.error}; {msg}"
                else:
                    raise PluginError(f"plugin {pname!r}: {msg}") from exc
    for impl in reversed(pm.hook.bsrbench_train_commands.get_hookimpls()):
        pname = pm.get_name(impl.plugin) or "?"
        try:
            reg.train_commands.extend(impl.function() or [])
        except Exception as exc:
            if pname in by_name:
                by_name[pname].error = f"bsrbench_train_commands: {exc}".splitlines()[0]
    return reg

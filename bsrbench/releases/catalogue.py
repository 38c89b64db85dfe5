"""The catalogue of known releases: the core's list plus every plugin's ``bsrbench_releases``."""

from __future__ import annotations

from collections.abc import Iterable

from bsrbench.errors import PluginError, UnknownNameError
from bsrbench.releases.known import CORE_RELEASES
from bsrbench.releases.spec import ReleaseSpec

__all__ = ["catalogue", "lookup"]


def catalogue(extra: Iterable[ReleaseSpec] = (), *, plugins: bool = True
              ) -> dict[str, ReleaseSpec]:
    """Every known release by name, in listing order (core first, then plugins).

    Args:
        extra: more releases (tests, or a caller's own list).
        plugins: also ask the installed plugins (``bsrbench_releases`` hook).

    Raises:
        PluginError: a plugin returned something else than a ReleaseSpec, or a name twice.
    """
    found: list[tuple[str, ReleaseSpec]] = [("bsrbench", r) for r in CORE_RELEASES]
    if plugins:
        from bsrbench.registry import get_plugin_manager

        pm, _ = get_plugin_manager()
        for impl in pm.hook.bsrbench_releases.get_hookimpls():
            owner = pm.get_name(impl.plugin) or "?"
            found.extend((owner, r) for r in impl.function() or [])
    found.extend(("(given)", r) for r in extra)
    out: dict[str, ReleaseSpec] = {}
    owners: dict[str, str] = {}
    for owner, spec in found:
        if not isinstance(spec, ReleaseSpec):
            raise PluginError(f"plugin {owner!r}: bsrbench_releases returned "
                              f"{type(spec).__name__}, expected ReleaseSpec")
        if spec.name in out:
            raise PluginError(f"release {spec.name!r} of plugin {owner!r} is already listed "
                              f"by {owners[spec.name]!r}")
        out[spec.name], owners[spec.name] = spec, owner
    return out


def lookup(name: str, releases: dict[str, ReleaseSpec]) -> ReleaseSpec:
    """The release called ``name``, or an UnknownNameError with a suggestion."""
    try:
        return releases[name]
    except KeyError:
        raise UnknownNameError("release", name, releases) from None

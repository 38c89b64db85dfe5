"""Every hook bsrbench calls. Plugins implement them with ``@bsrbench.hookimpl``.

Each ``register``-style hook is called once when the registry is built (at the start of a
CLI command or of :func:`bsrbench.registry.load_registry`), takes no arguments, and returns a
list of spec objects from :mod:`bsrbench.specs`. Names must be unique across all plugins:
a duplicate is reported against both plugins and the second one is dropped.
"""

from __future__ import annotations

import pluggy

from bsrbench.specs import (
    DegradationSpec,
    EstimatorSpec,
    MethodSpec,
    MetricSpec,
    ModelSpec,
    ProtocolSpec,
)

hookspec = pluggy.HookspecMarker("bsrbench")


@hookspec
def bsrbench_methods() -> list[MethodSpec]:
    """Return the blind SR methods this plugin provides (e.g. ``bicubic``, ``ikc``).

    Called once when the registry is built. Each spec's factory is called only when a run
    uses the method, so a plugin must not import torch or load weights at module level.
    """


@hookspec
def bsrbench_models() -> list[ModelSpec]:
    """Return the non-blind SR models this plugin provides (e.g. ``sftmd``, ``srmd``).

    A model becomes a method when composed with an estimator:
    ``bsrbench run --method srmd --kernel oracle`` runs ``srmd+oracle``.
    """


@hookspec
def bsrbench_estimators() -> list[EstimatorSpec]:
    """Return the kernel estimators this plugin provides (e.g. ``oracle``, ``ikc``)."""


@hookspec
def bsrbench_degradations() -> list[DegradationSpec]:
    """Return named downsamplers (``matlab-bicubic``, ``pil-bicubic``, ``direct``)."""


@hookspec
def bsrbench_protocols() -> list[ProtocolSpec]:
    """Return test-set protocols (``bicubic``, ``gaussian8``): the blur of each LR image."""


@hookspec
def bsrbench_metrics() -> list[MetricSpec]:
    """Return image-quality metrics (``psnr``, ``ssim``), each a column of results.csv."""


@hookspec
def bsrbench_train_commands() -> list:
    """Return click commands to attach under ``bsrbench train`` (e.g. ``ikc``, ``srmd``).

    Called when the CLI is built. Import click inside the hook body; build nothing heavy.
    """


@hookspec
def bsrbench_releases() -> list:
    """Return the officially released weights files this plugin knows (``ReleaseSpec``).

    Called by ``bsrbench weights`` (:func:`bsrbench.releases.catalogue`) to build the
    catalogue of releases it can list, fetch, verify and cache. Each item is a
    :class:`bsrbench.releases.ReleaseSpec`; names must be unique across plugins. Build
    nothing heavy: the hook runs whenever the catalogue is listed.
    """

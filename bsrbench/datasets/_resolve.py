"""Turning ``--dataset`` into a test-set file: option checks, settings, the cache.

``resolve_dataset`` reuses a cached file when its settings match and its checksum holds,
and rebuilds it otherwise; ``dataset_settings`` is the validation the CLI's ``datasets
build`` runs before :func:`~bsrbench.datasets.build_dataset`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.datasets._build import DEFAULT_DOWNSAMPLER, build_dataset, check_hr_size
from bsrbench.datasets._checks import check_cache_dir, check_jpeg, check_noise, check_seed
from bsrbench.datasets._generate import read_draws_file
from bsrbench.datasets._store import DatasetSettings, TestSet, hash_arrays, image_arrays
from bsrbench.errors import InputError, UnknownNameError
from bsrbench.images import HRImage, hr_set_digest, load_hr_set

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.specs import ProtocolSpec

__all__ = ["dataset_settings", "default_cache_dir", "describe_protocols", "resolve_dataset"]


def default_cache_dir() -> Path:
    """``$BSRBENCH_CACHE`` or ``./datasets``: where generated HDF5 files are cached."""
    return Path(os.environ.get("BSRBENCH_CACHE", "datasets"))


def resolve_dataset(
    registry: Registry,
    dataset: str,
    *,
    hr: str | Path | None = None,
    scale: int | None = None,
    downsampler: str | None = None,
    noise: float | None = None,
    seed: int | None = None,
    jpeg: int | None = None,
    draws: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_build: Callable[[int], None] | None = None,
) -> Path:
    """Turn ``--dataset`` into a test-set file: a ``.h5`` path (checked), or a protocol name
    that is built (or reused from the cache when settings and checksums match).

    Options that only make sense when building (``hr``, ``downsampler``, ``noise``,
    ``seed``, ``jpeg``, ``draws``) are refused with a ``.h5`` file (see
    :func:`_check_file_options`): pass None when the user did not give them.
    ``downsampler`` None means the protocol's own pipeline (``matlab-bicubic`` for the
    generic protocols); generator protocols refuse any other downsampler.
    """
    if dataset.endswith((".h5", ".hdf5")):
        path = Path(dataset)
        if not path.is_file():
            raise InputError(f"dataset file {path} not found: build one with "
                             "`bsrbench datasets build PROTOCOL`")
        with TestSet(path) as ts:  # checksum, structure and content hash, before scoring
            _check_file_options(ts.settings, path, hr=hr, downsampler=downsampler,
                                noise=noise, seed=seed, jpeg=jpeg, draws=draws)
        return path
    if dataset not in registry.protocols:
        raise UnknownNameError("dataset", dataset, registry.protocols)
    protocol = registry.protocols[dataset]
    settings, images = dataset_settings(registry, protocol, hr=hr, scale=scale,
                                        downsampler=downsampler, noise=noise, seed=seed,
                                        jpeg=jpeg, draws=draws)
    cache = check_cache_dir(cache_dir or default_cache_dir())
    path = cache / settings.cache_name()
    if path.is_file():
        try:
            with TestSet(path) as ts:
                if ts.settings == settings:
                    return path
        except InputError:
            pass  # a foreign, damaged or incomplete file: rebuild it
    if on_build:
        on_build(len(images))
    return build_dataset(registry, settings, images, path, progress=progress, draws=draws)


def _check_file_options(settings: DatasetSettings, path: Path, **given: Any) -> None:
    """Refuse build options given with a test-set file (its settings are fixed).

    ``hr``, ``jpeg`` and ``draws`` are refused whenever given; ``downsampler``, ``noise``
    and ``seed`` only when they differ from the file's (callers that always pass their
    defaults keep working; the CLI should pass None for options the user did not give).
    """
    for name in ("hr", "jpeg", "draws"):
        if given[name] is not None:
            raise InputError(f"--{name} cannot be used with the test-set file {path}: its "
                             "settings are fixed when it is built")
    for name, default in (("downsampler", DEFAULT_DOWNSAMPLER), ("noise", 0.0), ("seed", 0)):
        value, recorded = given[name], getattr(settings, name)
        if value is not None and value != recorded and value != default:
            raise InputError(f"--{name} {value} contradicts the test-set file {path} "
                             f"(built with {name} {recorded}): drop --{name}")


def dataset_settings(
    registry: Registry,
    protocol: ProtocolSpec,
    *,
    hr: str | Path | None = None,
    scale: int | None = None,
    downsampler: str | None = None,
    noise: float | None = None,
    seed: int | None = None,
    jpeg: int | None = None,
    draws: str | Path | None = None,
) -> tuple[DatasetSettings, list[HRImage]]:
    """Validate the build options and load the HR set: the settings a build would record.

    This is what ``bsrbench datasets build`` calls before :func:`build_dataset`. For a
    protocol with a ``reader`` (a released folder given as ``hr``) the second item is the
    release read into :class:`DatasetImage` objects, which ``build_dataset`` writes as is.
    """
    scale = scale or protocol.default_scale
    noise = check_noise(0.0 if noise is None else noise)
    seed = check_seed(0 if seed is None else seed)
    jpeg = check_jpeg(jpeg)
    if protocol.reader is not None:
        return _release_settings(protocol, hr, scale, noise, seed, jpeg, downsampler, draws)
    if protocol.generator is not None:
        if downsampler not in (None, DEFAULT_DOWNSAMPLER):
            raise InputError(f"protocol {protocol.name!r} has its own downsampling pipeline: "
                             "drop --downsampler")
        if scale not in protocol.scales:
            raise InputError(f"protocol {protocol.name!r} has no scale {scale} "
                             f"(it has {', '.join(map(str, protocol.scales))})")
        gen = protocol.generator(scale)
        pipeline, kernel_size = gen.pipeline, gen.kernel_size
    else:
        pipeline = downsampler or "matlab-bicubic"
        registry.get("degradation", pipeline)
        kernel_size = protocol.kernel_size
    draws_hash = None if draws is None else read_draws_file(draws).sha256
    hr_name, images = load_hr_set(hr)
    for im in images:  # found before any work, not half-way through a build
        h, w = im.pixels.shape[:2]
        check_hr_size(im.name, (h - h % scale, w - w % scale), scale)
    settings = DatasetSettings(protocol.name, scale, pipeline, hr_name, hr_set_digest(images),
                               kernel_size, noise, seed, jpeg, draws_hash)
    return settings, images


def _release_settings(protocol: ProtocolSpec, hr: str | Path | None, scale: int, noise: float,
                      seed: int, jpeg: int | None, downsampler: str | None,
                      draws: str | Path | None) -> tuple[DatasetSettings, list[Any]]:
    """Settings of a released set read from ``hr`` (the release folder)."""
    if hr is None:
        raise InputError(f"protocol {protocol.name!r} reads a released folder: pass it as --hr")
    if scale not in protocol.scales:
        raise InputError(f"protocol {protocol.name!r} has no scale {scale} "
                         f"(it has {', '.join(map(str, protocol.scales))})")
    if draws is not None or downsampler not in (None, DEFAULT_DOWNSAMPLER) or noise:
        raise InputError(f"protocol {protocol.name!r} reads released LR images: --draws, "
                         "--downsampler and --noise do not apply")
    images = list(protocol.reader(Path(hr), scale))
    digest = hashlib.sha256()
    for im in images:
        hash_arrays(digest, im.name, image_arrays(im))
    settings = DatasetSettings(protocol.name, scale, "release", Path(hr).resolve().name,
                               digest.hexdigest(), protocol.kernel_size, 0.0, seed, jpeg)
    return settings, images


def describe_protocols(registry: Registry) -> list[dict[str, Any]]:
    """One row per registered protocol, for ``bsrbench datasets list``.

    Keys: ``name, scales, default_scale, lr_per_hr, kernel_size, pipeline, summary, paper``.
    ``lr_per_hr`` is known up front for kernel-grid protocols and generators with a fixed
    grid; ``pipeline`` is ``--downsampler`` for generic protocols, the protocol's own
    pipeline for generators, ``release`` for released folders. Nothing heavy is imported.
    """
    rows = []
    for name in sorted(registry.protocols):
        p = registry.protocols[name]
        if p.reader is not None:
            pipeline, lr_per_hr, size = "release", 1, p.kernel_size
        elif p.generator is not None:
            gen = p.generator(p.default_scale)
            pipeline, size = gen.pipeline, gen.kernel_size
            lr_per_hr = gen.lr_per_hr
        else:
            pipeline, size = "--downsampler", p.kernel_size
            lr_per_hr = max(1, len(p.kernels(p.default_scale)))
        rows.append({"name": name, "scales": ",".join(map(str, p.scales)),
                     "default_scale": p.default_scale, "lr_per_hr": lr_per_hr,
                     "kernel_size": size, "pipeline": pipeline, "summary": p.summary,
                     "paper": p.paper})
    return rows

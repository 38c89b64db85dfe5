"""Building test sets: generic (kernels + a downsampler), generator and released protocols.

Files are written to ``<out>.partial`` and renamed when complete and sealed (checksum in
the userblock); a failed build removes its partial file, so nothing half-written is left.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bsrbench.datasets._checks import check_cache_dir, check_jpeg, check_noise, check_seed
from bsrbench.datasets._generate import DrawsFile, Rendered, jpeg_stage, read_draws_file
from bsrbench.datasets._store import (
    FORMAT,
    USERBLOCK,
    DatasetImage,
    DatasetSettings,
    hash_arrays,
    image_arrays,
    seal,
)
from bsrbench.errors import InputError
from bsrbench.images import HRImage

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.specs import ProtocolSpec

__all__ = ["DEFAULT_DOWNSAMPLER", "build_dataset"]

DEFAULT_DOWNSAMPLER = "matlab-bicubic"  # what callers pass when the user chose none

ISOTROPIC = "sigma1 = sigma2: std of an isotropic Gaussian in pixels, theta 0"


def _generic_images(registry: Registry, protocol: ProtocolSpec, settings: DatasetSettings,
                    images: list[HRImage]) -> Any:
    """Yield (name, hr uint8, DatasetImage parts) for the kernels + downsampler pipeline."""
    import torch

    from bsrbench.degradations import degrade, modcrop
    from bsrbench.kernels import gaussian_kernel

    spec = registry.get("degradation", settings.downsampler)
    ks = protocol.kernels(settings.scale)
    kernels = None
    if ks:
        kernels = torch.stack([gaussian_kernel(k.sigma1, k.sigma2, k.theta,
                                               size=settings.kernel_size) for k in ks])
    noises = [settings.noise if k.noise is None else check_noise(k.noise) for k in ks] \
        or [settings.noise]
    params = np.array([[k.sigma1, k.sigma2, k.theta, n] for k, n in zip(ks, noises)]
                      or [[0.0, 0.0, 0.0, settings.noise]], dtype=np.float64)
    generator = torch.Generator().manual_seed(settings.seed)
    for im in images:
        hr_u8 = modcrop(torch.from_numpy(im.pixels.copy()).permute(2, 0, 1)[None],
                        settings.scale)
        check_hr_size(im.name, hr_u8.shape[-2:], settings.scale)
        hr = hr_u8.float().div(255).expand(1, 3, *hr_u8.shape[-2:])
        if len(set(noises)) == 1:
            lr = degrade(hr, kernels, settings.scale, spec, noise_sigma=noises[0],
                         generator=generator)
        else:  # a grid with a noise level per kernel (one LR at a time, same stream)
            lr = torch.cat([degrade(hr, kernels[i:i + 1], settings.scale, spec,
                                    noise_sigma=n, generator=generator)
                            for i, n in enumerate(noises)])
        lr = lr.expand(len(params), *lr.shape[1:])
        hr_np = hr_u8[0].permute(1, 2, 0).contiguous().numpy()
        lr_np = lr.permute(0, 2, 3, 1).contiguous().numpy()
        k_np = None if kernels is None else kernels.numpy()
        yield DatasetImage(im.name, hr_np, lr_np, k_np, params)


def check_hr_size(name: str, hw: Any, scale: int) -> None:
    """Refuse an HR image (modcropped size ``hw``) too small for ``scale``."""
    if hw[0] < scale * 4 or hw[1] < scale * 4:
        raise InputError(f"HR image {name!r} is too small for x{scale} (at least "
                         f"{scale * 4}x{scale * 4} pixels): remove it from the HR folder")


def _generator_images(protocol: ProtocolSpec, settings: DatasetSettings,
                      images: list[HRImage], draws: DrawsFile | None) -> Any:
    """Yield DatasetImages from a protocol's own generator (seeded draws or a draws file)."""
    gen = protocol.generator(settings.scale)
    rng = np.random.RandomState(settings.seed)
    s = settings.scale
    for im in images:
        h, w = im.pixels.shape[0] - im.pixels.shape[0] % s, im.pixels.shape[1] - \
            im.pixels.shape[1] % s
        check_hr_size(im.name, (h, w), s)
        hr = np.ascontiguousarray(np.broadcast_to(im.pixels[:h, :w],
                                                  (h, w, 3)) if im.grey else im.pixels[:h, :w])
        if draws is None:
            image_draws = gen.sample(rng, (h // s, w // s), settings.noise)
        else:
            source = f"draws file {draws.path}"
            image_draws = [gen.from_record(rec, draws.path.parent, f"{source} ({im.name})",
                                           settings.noise) for rec in draws.images[im.name]]
        rendered: list[Rendered] = [gen.render(hr, d) for d in image_draws]
        sizes = {r.kernel.shape for r in rendered}
        if len(sizes) != 1:
            raise InputError(f"protocol {protocol.name!r} made kernels of sizes "
                             f"{sorted(sizes)} for one HR image; one size per image is stored")
        for r in rendered:
            _check_kernel_sum(r.kernel, f"protocol {protocol.name!r} ({im.name})")
        yield DatasetImage(
            im.name, np.ascontiguousarray(im.pixels[:h, :w]),
            np.stack([r.lr for r in rendered]),
            np.stack([r.kernel.astype(np.float32) for r in rendered]),
            np.array([r.params for r in rendered], dtype=np.float64),
            None, tuple(image_draws))


def _check_kernel_sum(kernel: np.ndarray, source: str) -> None:
    total = float(np.sum(kernel, dtype=np.float64))
    if not np.all(np.isfinite(kernel)) or abs(total - 1.0) > 1e-4:
        raise InputError(f"{source}: a kernel sums to {total:.6g}, not 1; "
                         "blur kernels must be normalised")


def _write_draw(group: Any, draw: dict[str, Any]) -> None:
    for key, value in draw.items():
        if isinstance(value, np.ndarray):  # noise images are large and often all zero
            group.create_dataset(key, data=value, compression="gzip", compression_opts=4)
        else:
            group.attrs[key] = value


def build_dataset(
    registry: Registry,
    settings: DatasetSettings,
    images: list[HRImage],
    out: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
    draws: str | Path | None = None,
) -> Path:
    """Generate a test set: every LR image of every HR image, written to ``out``.

    Args:
        registry: supplies the protocol and (generic protocols) the downsampler's
            :class:`~bsrbench.specs.DegradationSpec` by name.
        settings: protocol, scale, downsampler, noise, seed, jpeg (``hr_digest`` must match
            images; ``draws`` must be the draws file's sha256 when ``draws`` is given).
        images: the HR images; each is modcropped to the scale.
        out: the HDF5 file to write (replaced atomically when complete).
        progress: called with 1 after each HR image.
        draws: a draws JSON file (docs/protocols.md) to rebuild a generator protocol's set
            from recorded draws instead of sampling them from ``settings.seed``.

    Raises:
        InputError: unknown scale, bad noise/seed/JPEG, malformed draws file (one line
            naming it), a kernel that does not sum to 1; nothing is left at ``out``.
    """
    import h5py

    from bsrbench import __version__

    protocol = registry.get("protocol", settings.protocol)
    if settings.scale not in protocol.scales:
        raise InputError(f"protocol {protocol.name!r} has no scale {settings.scale} "
                         f"(it has {', '.join(map(str, protocol.scales))})")
    check_noise(settings.noise)
    check_seed(settings.seed)
    check_jpeg(settings.jpeg)
    draws_file = None if draws is None else _load_draws(draws, protocol, settings, images)
    if protocol.reader is not None:
        if settings.noise:
            raise InputError(f"protocol {protocol.name!r} reads released LR images: "
                             "--noise cannot be added to them")
        parts = iter(images)  # dataset_settings() read the release into DatasetImages
        kernel_params = "released kernels: parameters unknown"
    elif protocol.generator is not None:
        gen = protocol.generator(settings.scale)
        if settings.downsampler not in (gen.pipeline, DEFAULT_DOWNSAMPLER):
            raise InputError(f"protocol {protocol.name!r} has its own downsampling pipeline "
                             f"({gen.pipeline}): drop --downsampler")
        # settings made without dataset_settings() name the default downsampler: record
        # the pipeline that really ran
        settings = replace(settings, downsampler=gen.pipeline, kernel_size=gen.kernel_size)
        parts = _generator_images(protocol, settings, images, draws_file)
        kernel_params = gen.kernel_params
    else:
        parts = _generic_images(registry, protocol, settings, images)
        kernel_params = ISOTROPIC if protocol.kernels(settings.scale) else "no blur"
    out = Path(out)
    check_cache_dir(out.parent)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.partial")  # one per concurrent build
    try:
        _write(h5py, tmp, settings, parts, kernel_params, __version__, progress)
        seal(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _write(h5py: Any, tmp: Path, settings: DatasetSettings, parts: Any, kernel_params: str,
           version: str, progress: Callable[[int], None] | None) -> None:
    digest = hashlib.sha256()
    names = []
    try:
        f = h5py.File(tmp, "w", userblock_size=USERBLOCK)
    except OSError as exc:
        raise InputError(f"cannot write {tmp} ({exc.strerror or exc})") from None
    with f:
        group = f.create_group("images")
        for im in parts:
            if settings.jpeg is not None:
                im = DatasetImage(im.name, im.hr, np.stack([jpeg_stage(x, settings.jpeg)
                                                            for x in im.lr]),
                                  im.kernels, im.params,
                                  np.full(len(im.lr), settings.jpeg, dtype=np.int16), im.draws)
            g = group.create_group(im.name)
            g.create_dataset("hr", data=im.hr)
            g.create_dataset("lr", data=im.lr)
            g.create_dataset("params", data=im.params)
            if im.kernels is not None:
                g.create_dataset("kernels", data=im.kernels)
            if im.jpeg is not None:
                g.create_dataset("jpeg", data=im.jpeg)
            if im.draws:
                dg = g.create_group("draws")
                for i, d in enumerate(im.draws):
                    _write_draw(dg.create_group(str(i)), d)
            hash_arrays(digest, im.name, image_arrays(im))
            names.append(im.name)
            if progress:
                progress(1)
        attrs = settings.as_dict()
        f.attrs.update(attrs)
        f.attrs["format"] = FORMAT
        f.attrs["settings"] = json.dumps(attrs, sort_keys=True)
        f.attrs["bsrbench_version"] = version
        f.attrs["images"] = json.dumps(names)
        f.attrs["kernel_params"] = kernel_params
        f.attrs["content_hash"] = digest.hexdigest()


def _load_draws(draws: str | Path, protocol: ProtocolSpec, settings: DatasetSettings,
                images: list[HRImage]) -> DrawsFile:
    if protocol.generator is None:
        raise InputError(f"protocol {protocol.name!r} has no random draws: --draws applies "
                         "to generator protocols (div2krk, aniso, manet9, dasr9)")
    df = read_draws_file(draws)
    if df.protocol is not None and df.protocol != protocol.name:
        raise InputError(f"draws file {df.path} is for protocol {df.protocol!r}, "
                         f"not {protocol.name!r}")
    if df.scale is not None and df.scale != settings.scale:
        raise InputError(f"draws file {df.path} is for scale {df.scale}, not {settings.scale}")
    names = {im.name for im in images}
    missing = sorted(names - set(df.images))
    extra = sorted(set(df.images) - names)
    if missing or extra:
        what = (f"has no draws for HR image {missing[0]!r}" if missing
                else f"names HR image {extra[0]!r} that is not in the HR set")
        raise InputError(f"draws file {df.path} {what}")
    if settings.draws is not None and settings.draws != df.sha256:
        raise InputError(f"draws file {df.path} does not match the settings' draws hash")
    return df

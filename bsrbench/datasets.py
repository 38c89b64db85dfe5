"""Test sets as HDF5 files: build, cache, read, describe and export.

This is the only module that imports h5py. One file holds one protocol at one scale::

    /                      attrs: format, protocol, scale, downsampler, kernel_size, noise,
                           seed, hr_set, hr_digest, bsrbench_version, settings (JSON),
                           content_hash, images (JSON list, in order)
    /images/<name>/hr      uint8 (H, W, C), C = 1 for grey images (scored on that channel)
    /images/<name>/lr      uint8 (K, h, w, 3), one LR image per kernel (RGB, as methods see it)
    /images/<name>/kernels float32 (K, k, k), the ground-truth kernels (absent without blur)
    /images/<name>/params  float64 (K, 4): sigma1, sigma2, theta, noise of each LR image

Files are written to a temporary name and renamed when complete, so an interrupted build
never leaves a file that looks valid. ``content_hash`` is a sha256 over every array in order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.images import HRImage, hr_set_digest, load_hr_set, write_png

if TYPE_CHECKING:
    from bsrbench.registry import Registry

__all__ = [
    "DatasetImage",
    "DatasetSettings",
    "TestSet",
    "build_dataset",
    "default_cache_dir",
    "export_dataset",
    "open_dataset",
    "resolve_dataset",
]

FORMAT = "bsrbench-dataset/1"


def default_cache_dir() -> Path:
    """``$BSRBENCH_CACHE`` or ``./datasets``: where generated HDF5 files are cached."""
    return Path(os.environ.get("BSRBENCH_CACHE", "datasets"))


@dataclass(frozen=True)
class DatasetSettings:
    """Everything that determines a generated test set (recorded as attributes)."""

    protocol: str  # "bicubic" or "gaussian8" (or a plugin's protocol)
    scale: int  # SR factor
    downsampler: str  # "matlab-bicubic", "pil-bicubic" or "direct"
    hr_set: str  # name of the HR set (folder name, or "skimage" for the embedded set)
    hr_digest: str  # sha256 of the HR images (names and pixels)
    kernel_size: int = 21  # size of the blur kernels
    noise: float = 0.0  # std of additive Gaussian noise, 0..255 units
    seed: int = 0  # seed of the noise generator

    def key(self) -> str:
        """Short hash of the settings, used in cache file names."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def cache_name(self) -> str:
        noise = f"-n{self.noise:g}" if self.noise else ""
        return (f"{self.protocol}-{self.hr_set}-x{self.scale}-{self.downsampler}{noise}"
                f"-{self.key()}.h5")


@dataclass(frozen=True)
class DatasetImage:
    """One HR image with all its LR versions, as read from a test set."""

    name: str
    hr: np.ndarray  # uint8 (H, W, C), C = 1 for grey
    lr: np.ndarray  # uint8 (K, h, w, 3)
    kernels: np.ndarray | None  # float32 (K, k, k), None without blur
    params: np.ndarray  # float64 (K, 4): sigma1, sigma2, theta, noise

    @property
    def grey(self) -> bool:
        return self.hr.shape[2] == 1


def _hash_arrays(digest: Any, name: str, arrays: list[np.ndarray]) -> None:
    digest.update(name.encode())
    for arr in arrays:
        digest.update(str(arr.dtype).encode() + str(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())


def build_dataset(
    registry: Registry,
    settings: DatasetSettings,
    images: list[HRImage],
    out: str | Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Generate a test set: every LR image of every HR image, written to ``out``.

    Args:
        registry: supplies the protocol (kernels) and the downsampler by name.
        settings: protocol, scale, downsampler, noise, seed (``hr_digest`` must match images).
        images: the HR images; each is modcropped to the scale.
        out: the HDF5 file to write (replaced atomically when complete).
        progress: called with 1 after each HR image.
    """
    import h5py
    import torch

    from bsrbench import __version__
    from bsrbench.degradations import DOWNSAMPLERS, degrade, modcrop
    from bsrbench.kernels import gaussian_kernel

    protocol = registry.get("protocol", settings.protocol)
    spec = registry.get("degradation", settings.downsampler)
    # built-ins by name (their noise is added before quantisation); plugins by callable
    method = spec.name if spec.name in DOWNSAMPLERS else spec.downsample
    if settings.scale not in protocol.scales:
        raise InputError(f"protocol {protocol.name!r} has no scale {settings.scale} "
                         f"(it has {', '.join(map(str, protocol.scales))})")
    kernel_settings = protocol.kernels(settings.scale)
    kernels = None
    if kernel_settings:
        kernels = torch.stack([
            gaussian_kernel(k.sigma1, k.sigma2, k.theta, size=settings.kernel_size)
            for k in kernel_settings
        ])
    n_lr = max(1, len(kernel_settings))
    params = np.array(
        [[k.sigma1, k.sigma2, k.theta, settings.noise] for k in kernel_settings]
        or [[0.0, 0.0, 0.0, settings.noise]], dtype=np.float64)
    generator = torch.Generator().manual_seed(settings.seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    names = []
    with h5py.File(tmp, "w") as f:
        group = f.create_group("images")
        for im in images:
            hr_u8 = torch.from_numpy(im.pixels.copy()).permute(2, 0, 1)[None]
            hr_u8 = modcrop(hr_u8, settings.scale)
            if hr_u8.shape[-1] < settings.scale * 4 or hr_u8.shape[-2] < settings.scale * 4:
                raise InputError(f"HR image {im.name!r} is too small for x{settings.scale}")
            hr = hr_u8.float().div(255).expand(1, 3, *hr_u8.shape[-2:])
            lr = degrade(hr, kernels, settings.scale, method,
                         noise_sigma=settings.noise, generator=generator)
            lr = lr.expand(n_lr, *lr.shape[1:])
            hr_np = hr_u8[0].permute(1, 2, 0).contiguous().numpy()
            lr_np = lr.permute(0, 2, 3, 1).contiguous().numpy()
            g = group.create_group(im.name)
            g.create_dataset("hr", data=hr_np)
            g.create_dataset("lr", data=lr_np)
            arrays = [hr_np, lr_np, params]
            if kernels is not None:
                k_np = kernels.numpy()
                g.create_dataset("kernels", data=k_np)
                arrays.append(k_np)
            g.create_dataset("params", data=params)
            _hash_arrays(digest, im.name, arrays)
            names.append(im.name)
            if progress:
                progress(1)
        attrs = asdict(settings)
        f.attrs.update({k: v for k, v in attrs.items()})
        f.attrs["format"] = FORMAT
        f.attrs["settings"] = json.dumps(attrs, sort_keys=True)
        f.attrs["bsrbench_version"] = __version__
        f.attrs["images"] = json.dumps(names)
        f.attrs["content_hash"] = digest.hexdigest()
    os.replace(tmp, out)
    return out


class TestSet:
    """A test set file opened for reading (a context manager)."""

    __test__ = False  # not a pytest class

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"dataset file {self.path} not found")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path} is not a readable HDF5 file ({exc})") from None
        if self._f.attrs.get("format") != FORMAT:
            self._f.close()
            raise InputError(f"{self.path} is not a bsrbench dataset (format {FORMAT} expected): "
                             "build one with `bsrbench datasets build`")
        self.settings = DatasetSettings(**json.loads(self._f.attrs["settings"]))
        self.names: list[str] = json.loads(self._f.attrs["images"])
        self.content_hash: str = str(self._f.attrs["content_hash"])
        self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in self._f.attrs.items()}

    def __enter__(self) -> TestSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def __len__(self) -> int:
        return len(self.names)

    def image(self, name: str) -> DatasetImage:
        g = self._f["images"][name]
        kernels = g["kernels"][()] if "kernels" in g else None
        return DatasetImage(name, g["hr"][()], g["lr"][()], kernels, g["params"][()])

    def __iter__(self) -> Iterator[DatasetImage]:
        for name in self.names:
            yield self.image(name)

    @property
    def n_lr(self) -> int:
        return sum(self._f["images"][n]["lr"].shape[0] for n in self.names)

    def verify(self) -> bool:
        """Recompute the content hash; False when the file's arrays were changed."""
        digest = hashlib.sha256()
        for im in self:
            arrays = [im.hr, im.lr, im.params]
            if im.kernels is not None:
                arrays.append(im.kernels)
            _hash_arrays(digest, im.name, arrays)
        return digest.hexdigest() == self.content_hash

    @property
    def label(self) -> str:
        """Short dataset name for results: ``gaussian8`` or ``gaussian8/Set5``."""
        s = self.settings
        return s.protocol if s.hr_set == "skimage" else f"{s.protocol}/{s.hr_set}"


def open_dataset(path: str | Path) -> TestSet:
    """Open a test set file for reading."""
    return TestSet(path)


def resolve_dataset(
    registry: Registry,
    dataset: str,
    *,
    hr: str | Path | None = None,
    scale: int | None = None,
    downsampler: str = "matlab-bicubic",
    noise: float = 0.0,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_build: Callable[[int], None] | None = None,
) -> Path:
    """Turn ``--dataset`` into a test-set file: a ``.h5`` path, or a protocol name that is
    built (or reused from the cache when settings and content hash match)."""
    if dataset.endswith((".h5", ".hdf5")):
        path = Path(dataset)
        if not path.is_file():
            raise InputError(f"dataset file {path} not found: build one with "
                             "`bsrbench datasets build PROTOCOL`")
        return path
    if dataset not in registry.protocols:
        raise UnknownNameError("dataset", dataset, registry.protocols)
    protocol = registry.protocols[dataset]
    scale = scale or protocol.default_scale
    registry.get("degradation", downsampler)
    if noise < 0:
        raise InputError(f"noise must be >= 0, got {noise}")
    hr_name, images = load_hr_set(hr)
    settings = DatasetSettings(dataset, scale, downsampler, hr_name, hr_set_digest(images),
                               protocol.kernel_size, float(noise), seed)
    path = Path(cache_dir or default_cache_dir()) / settings.cache_name()
    if path.is_file():
        try:
            with TestSet(path) as ts:
                if ts.settings == settings and ts.verify():
                    return path
        except InputError:
            pass  # a foreign or damaged file: rebuild it
    if on_build:
        on_build(len(images))
    return build_dataset(registry, settings, images, path, progress=progress)


def describe(path: str | Path) -> dict[str, Any]:
    """Attributes and counts of a test set, for ``bsrbench datasets info``."""
    with TestSet(path) as ts:
        info = {k: v for k, v in ts.attrs.items() if k not in {"settings", "images"}}
        info["hr_images"] = len(ts)
        info["lr_images"] = ts.n_lr
        info["images"] = ", ".join(ts.names)
        return info


def export_dataset(path: str | Path, out: str | Path) -> int:
    """Write the conventional folder layout other tools read; return the LR image count.

    ``HR/<name>.png``, ``LR/<name>_k<i>.png``, ``kernels/<name>_k<i>.npy`` and ``.png``
    (scaled to its maximum), and ``settings.csv`` with one row per LR image.
    """
    out = Path(out)
    count = 0
    with TestSet(path) as ts:
        s = ts.settings
        rows = []
        for im in ts:
            write_png(out / "HR" / f"{im.name}.png", im.hr)
            for i in range(im.lr.shape[0]):
                stem = f"{im.name}_k{i}"
                write_png(out / "LR" / f"{stem}.png", im.lr[i])
                row = {"image": im.name, "kernel_index": i, "hr": f"HR/{im.name}.png",
                       "lr": f"LR/{stem}.png", "kernel": "", "scale": s.scale,
                       "protocol": s.protocol, "downsampler": s.downsampler,
                       "sigma1": im.params[i, 0], "sigma2": im.params[i, 1],
                       "theta": im.params[i, 2], "noise": im.params[i, 3]}
                if im.kernels is not None:
                    k = im.kernels[i]
                    (out / "kernels").mkdir(parents=True, exist_ok=True)
                    np.save(out / "kernels" / f"{stem}.npy", k)
                    img = np.round(k / max(float(k.max()), 1e-12) * 255).astype(np.uint8)
                    write_png(out / "kernels" / f"{stem}.png", img[:, :, None])
                    row["kernel"] = f"kernels/{stem}.npy"
                rows.append(row)
                count += 1
        with open(out / "settings.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return count

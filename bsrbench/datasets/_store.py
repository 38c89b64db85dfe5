"""Reading test-set files: settings, images, verification, description and export.

One file holds one protocol at one scale::

    userblock (512 B)      "bsrbench-sha256:<hex>": sha256 of every byte after the userblock
    /                      attrs: format, protocol, scale, downsampler, kernel_size, noise,
                           seed, hr_set, hr_digest, bsrbench_version, settings (JSON),
                           content_hash, images (JSON list, in order), kernel_params
    /images/<name>/hr      uint8 (H, W, C), C = 1 for grey images (scored on that channel)
    /images/<name>/lr      uint8 (K, h, w, 3), one LR image per kernel (RGB, as methods see it)
    /images/<name>/kernels float32 (K, k, k), the ground-truth kernels (absent without blur);
                           k may differ between HR images (DIV2KRK x2 11, x4 31)
    /images/<name>/params  float64 (K, 4): sigma1, sigma2, theta, noise of each LR image
    /images/<name>/jpeg    int16 (K,): JPEG quality of each LR (absent without a JPEG stage)
    /images/<name>/draws/<i>  every random draw of LR i: scalars as attrs, arrays as datasets

The userblock checksum is checked *before* h5py opens the file: a damaged file (a truncated
or zeroed tail can make the HDF5 library loop forever) is refused in one line. Files from
before the checksum are probed in a subprocess with a timeout. ``content_hash`` is a sha256
over every array in order, verified on every open.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from bsrbench.errors import InputError
from bsrbench.images import write_png

__all__ = [
    "DatasetImage",
    "DatasetSettings",
    "TestSet",
    "describe",
    "export_dataset",
    "open_dataset",
]

FORMAT = "bsrbench-dataset/1"
USERBLOCK = 512
MAGIC = b"bsrbench-sha256:"
PROBE_TIMEOUT_S = 60.0  # h5py probe of a legacy file without checksum
# Fields added after format 1 was fixed: left out of the cache key while None, so the cache
# names (and content) of existing sets do not change.
_OPTIONAL = ("jpeg", "draws")


@dataclass(frozen=True)
class DatasetSettings:
    """Everything that determines a generated test set (recorded as attributes)."""

    protocol: str  # "bicubic" or "gaussian8" (or a plugin's protocol)
    scale: int  # SR factor
    downsampler: str  # "matlab-bicubic", "pil-bicubic", "direct" or a protocol's pipeline
    hr_set: str  # name of the HR set (folder name, or "skimage" for the embedded set)
    hr_digest: str  # sha256 of the HR images (names and pixels)
    kernel_size: int = 21  # nominal size of the blur kernels (per-image sizes may differ)
    noise: float = 0.0  # std of additive Gaussian noise, 0..255 units
    seed: int = 0  # seed of every random draw
    jpeg: int | None = None  # JPEG quality of the last stage; None: no JPEG
    draws: str | None = None  # sha256 of a --draws file the set was rebuilt from

    def as_dict(self) -> dict[str, Any]:
        """The settings without the optional fields that are unset."""
        out = asdict(self)
        for name in _OPTIONAL:
            if out[name] is None:
                del out[name]
        return out

    def key(self) -> str:
        """Short hash of the settings, used in cache file names."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def cache_name(self) -> str:
        noise = f"-n{self.noise:g}" if self.noise else ""
        jpeg = f"-q{self.jpeg}" if self.jpeg is not None else ""
        return (f"{self.protocol}-{self.hr_set}-x{self.scale}-{self.downsampler}{noise}{jpeg}"
                f"-{self.key()}.h5")

    @classmethod
    def from_json(cls, text: str, source: Path) -> DatasetSettings:
        known = {f.name for f in fields(cls)}
        try:
            data = json.loads(text)
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source} has unreadable settings ({exc}): rebuild it") from None


@dataclass(frozen=True)
class DatasetImage:
    """One HR image with all its LR versions, as read from a test set."""

    name: str
    hr: np.ndarray  # uint8 (H, W, C), C = 1 for grey
    lr: np.ndarray  # uint8 (K, h, w, 3)
    kernels: np.ndarray | None  # float32 (K, k, k), None without blur
    params: np.ndarray  # float64 (K, 4): sigma1, sigma2, theta, noise
    jpeg: np.ndarray | None = None  # int (K,): JPEG quality per LR, None without JPEG
    draws: tuple[Mapping[str, Any], ...] = ()  # every random draw per LR (may be empty)

    @property
    def grey(self) -> bool:
        return self.hr.shape[2] == 1

    def row_params(self, k: int) -> dict[str, Any]:
        """The per-LR parameters of LR image ``k`` for result rows and per-kernel tables.

        Keys are exactly ``sigma, sigma2, theta, noise, jpeg, kernel_size``. Without blur
        the kernel keys are None (sigma/sigma2/theta also for released kernels, whose
        parameters are unknown); ``jpeg`` is None without a JPEG stage. For isotropic
        kernels ``sigma2 == sigma`` and ``theta == 0``; for anisotropic ones they are the
        protocol's (λ1, λ2, θ) as its ``kernel_params`` attribute says (eigenvalues or
        standard deviations; θ in radians).
        """
        p = self.params[k]
        blurred = self.kernels is not None

        def known(v: float) -> float | None:  # NaN: a released kernel of unknown shape
            return float(v) if blurred and np.isfinite(v) else None

        return {
            "sigma": known(p[0]),
            "sigma2": known(p[1]),
            "theta": known(p[2]),
            "noise": float(p[3]),
            "jpeg": int(self.jpeg[k]) if self.jpeg is not None else None,
            "kernel_size": int(self.kernels.shape[-1]) if blurred else None,
        }


def hash_arrays(digest: Any, name: str, arrays: list[np.ndarray]) -> None:
    """Feed one image's arrays (dtype, shape and bytes) into the content hash."""
    digest.update(name.encode())
    for arr in arrays:
        digest.update(str(arr.dtype).encode() + str(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())


def image_arrays(im: DatasetImage) -> list[np.ndarray]:
    """The arrays of an image in content-hash order (new ones only when present, so the
    hash of a set without them is what it always was)."""
    arrays = [im.hr, im.lr, im.params]
    if im.kernels is not None:
        arrays.append(im.kernels)
    if im.jpeg is not None:
        arrays.append(im.jpeg)
    for i, draw in enumerate(im.draws):
        arrays.append(np.frombuffer(json.dumps(
            {k: v for k, v in sorted(draw.items()) if not isinstance(v, np.ndarray)},
            sort_keys=True, default=float).encode() + str(i).encode(), dtype=np.uint8))
        arrays.extend(np.asarray(v) for k, v in sorted(draw.items())
                      if isinstance(v, np.ndarray))
    return arrays


def file_checksum(path: Path) -> tuple[str | None, str]:
    """(stored sha256 from the userblock or None, sha256 of the bytes after the userblock)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(USERBLOCK)
        stored = None
        if head.startswith(MAGIC):
            stored = head[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace")
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return stored, digest.hexdigest()


def seal(path: Path) -> None:
    """Write the sha256 of the file's body into its (reserved, zeroed) userblock."""
    _, body = file_checksum(path)
    with open(path, "r+b") as f:
        f.write(MAGIC + body.encode("ascii") + b"\n")


def _probe(path: Path) -> None:
    """Open a legacy file (no checksum) in a subprocess first: h5py can loop forever on a
    damaged one, and only a separate process can be stopped."""
    import subprocess
    import sys

    code = ("import h5py,sys\nwith h5py.File(sys.argv[1],'r') as f:\n"
            " dict(f.attrs)\n"
            " f.visititems(lambda n,o: o[()] if isinstance(o,h5py.Dataset) else None)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InputError(f"{path} is damaged: reading it did not finish in "
                         f"{PROBE_TIMEOUT_S:g} s; rebuild it") from None
    if proc.returncode != 0:
        raise InputError(f"{path} is not a readable HDF5 file: rebuild it")


def _check_file(path: Path) -> bool:
    """Check a file before h5py touches it; True when its userblock checksum matched."""
    stored, body = file_checksum(path)
    if stored is not None:
        if stored != body:
            raise InputError(f"{path} is damaged (its sha256 does not match the one stored "
                             "when it was built): rebuild it")
        return True
    with open(path, "rb") as f:
        if f.read(8) != b"\x89HDF\r\n\x1a\n":
            raise InputError(f"{path} is not a readable HDF5 file: build one with "
                             "`bsrbench datasets build PROTOCOL`")
    _probe(path)
    return False


class TestSet:
    """A test set file opened for reading (a context manager).

    Opening checks the file before the HDF5 library reads it (userblock checksum, or a
    probe in a subprocess for older files), then its structure, and, unless ``verify`` is
    False, recomputes the content hash: a file whose pixels changed is refused, never scored.
    """

    __test__ = False  # not a pytest class

    def __init__(self, path: str | Path, *, verify: bool = True) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"dataset file {self.path} not found")
        sealed = _check_file(self.path)
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path} is not a readable HDF5 file ({exc})") from None
        try:
            self._read_header()
            if verify and not sealed and not self.verify():
                raise InputError(f"{self.path} is damaged: its arrays do not match its "
                                 "content hash; rebuild it")
        except BaseException:
            self._f.close()
            raise

    def _read_header(self) -> None:
        f = self._f
        if f.attrs.get("format") != FORMAT:
            raise InputError(f"{self.path} is not a bsrbench dataset (format {FORMAT} "
                             "expected): build one with `bsrbench datasets build`")
        for key in ("settings", "images", "content_hash"):
            if key not in f.attrs:
                raise InputError(f"{self.path} lacks the {key!r} attribute: rebuild it")
        self.settings = DatasetSettings.from_json(f.attrs["settings"], self.path)
        try:
            self.names: list[str] = list(json.loads(f.attrs["images"]))
        except ValueError:
            raise InputError(f"{self.path} has an unreadable image list: rebuild it") from None
        self.content_hash: str = str(f.attrs["content_hash"])
        self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        group = f.get("images")
        for name in self.names:
            for part in ("hr", "lr", "params"):
                if group is None or name not in group or part not in group[name]:
                    raise InputError(f"{self.path} is missing images/{name}/{part}: "
                                     "it is incomplete; rebuild it")

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
        jpeg = g["jpeg"][()] if "jpeg" in g else None
        draws: tuple[dict[str, Any], ...] = ()
        if "draws" in g:
            dg = g["draws"]
            draws = tuple(_read_draw(dg[str(i)]) for i in range(len(dg)))
        return DatasetImage(name, g["hr"][()], g["lr"][()], kernels, g["params"][()],
                            jpeg, draws)

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
            hash_arrays(digest, im.name, image_arrays(im))
        return digest.hexdigest() == self.content_hash

    @property
    def label(self) -> str:
        """Short dataset name for results: ``gaussian8`` or ``gaussian8/Set5``."""
        s = self.settings
        return s.protocol if s.hr_set == "skimage" else f"{s.protocol}/{s.hr_set}"


def _read_draw(group: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: (v.item() if hasattr(v, "item") else v)
                           for k, v in group.attrs.items()}
    for key in group:
        out[key] = group[key][()]
    return out


def open_dataset(path: str | Path) -> TestSet:
    """Open (and verify) a test set file for reading."""
    return TestSet(path)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe(path: str | Path) -> dict[str, Any]:
    """Attributes, counts and per-image kernel parameters, for ``bsrbench datasets info``.

    Each ``image <name>`` entry lists its LR images as ``k<i>: sigma=.. sigma2=.. theta=..
    noise=.. [jpeg=..] size=..`` so a reader sees the anisotropic draws of DIV2KRK-style sets.
    """
    with TestSet(path) as ts:
        info = {k: v for k, v in ts.attrs.items() if k not in {"settings", "images"}}
        info["hr_images"] = len(ts)
        info["lr_images"] = ts.n_lr
        info["images"] = ", ".join(ts.names)
        for im in ts:
            parts = []
            for k in range(im.lr.shape[0]):
                row = im.row_params(k)
                text = " ".join(f"{key}={_fmt(v)}" for key, v in row.items()
                                if v is not None)
                parts.append(f"k{k}: {text}")
            info[f"image {im.name}"] = "; ".join(parts)
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
                       "theta": im.params[i, 2], "noise": im.params[i, 3],
                       "jpeg": "" if im.jpeg is None else int(im.jpeg[i])}
                if im.kernels is not None:
                    k = im.kernels[i]
                    (out / "kernels").mkdir(parents=True, exist_ok=True)
                    np.save(out / "kernels" / f"{stem}.npy", k)
                    img = np.round(np.clip(k, 0, None) / max(float(k.max()), 1e-12) * 255)
                    write_png(out / "kernels" / f"{stem}.png", img.astype(np.uint8)[:, :, None])
                    row["kernel"] = f"kernels/{stem}.npy"
                rows.append(row)
                count += 1
        with open(out / "settings.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return count

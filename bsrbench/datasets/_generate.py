"""Protocols with their own pipeline: the generator interface, draws files, the JPEG stage.

A :class:`ProtocolGenerator` (returned by ``ProtocolSpec.generator(scale)``) samples every
random draw of one HR image's LR images from the build's seeded ``RandomState`` and renders
one LR image from one draw. Because rendering takes only the draw, a set can be rebuilt from
draws recorded elsewhere: a ``--draws`` JSON file in the shape of the upstream goldens'
``params.json`` (schema in ``docs/protocols.md``).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bsrbench.errors import InputError

__all__ = [
    "DrawsFile",
    "ProtocolGenerator",
    "Rendered",
    "export_draws",
    "jpeg_stage",
    "load_array",
    "read_draws_file",
]


@dataclass(frozen=True)
class Rendered:
    """One LR image made from one draw."""

    lr: np.ndarray  # uint8 (h, w, 3)
    kernel: np.ndarray  # float32 (k, k), sums to 1
    params: tuple[float, float, float, float]  # sigma1, sigma2, theta, noise (row labels)


class ProtocolGenerator(Protocol):
    """What a protocol with its own pipeline implements (see ``ProtocolSpec.generator``)."""

    pipeline: str  # recorded as the dataset's downsampler, e.g. "kernelgan-notebook"
    kernel_size: int  # nominal kernel size (recorded; per-image kernels may differ)
    kernel_params: str  # what sigma1, sigma2, theta mean, for reports and `datasets info`
    lr_per_hr: int  # LR images made from each HR image (9 for the MANet/DASR grids)

    def sample(self, rng: np.random.RandomState, lr_shape: tuple[int, int],
               noise: float) -> list[dict[str, Any]]:
        """Every random draw for one HR image: one dict per LR image (floats, ints,
        strings and numpy arrays only), drawn from ``rng`` in the upstream order."""

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """Turn one draws-file record (params.json shape; ``*_file`` names relative to
        ``base``) into a draw as :meth:`sample` returns it; raise InputError naming
        ``source`` when it is malformed."""

    def render(self, hr: np.ndarray, draw: Mapping[str, Any]) -> Rendered:
        """The LR image of one draw from the modcropped uint8 HR ``(H, W, 3)``."""


def jpeg_stage(lr: np.ndarray, quality: int) -> np.ndarray:
    """JPEG-compress and decode a uint8 (h, w, 3) RGB image, as BSRGAN/MANet's last stage.

    Upstream calls ``cv2.imencode('.jpg', BGR, [IMWRITE_JPEG_QUALITY, q])`` then ``imdecode``
    (baseline, 4:2:0 chroma, no optimisation). Pillow's ``save('JPEG', quality=q)`` with its
    defaults is the same libjpeg(-turbo) call: FACTS.md (protocols §7) measured byte-identical
    files and decodes for q = 30..95, and ``tests/protocols`` checks the goldens, so no
    OpenCV dependency is needed.
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(lr)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_array(base: Path, ref: Any, source: str, *, shape: tuple[int, ...] | None = None
               ) -> np.ndarray:
    """Load the ``.npy`` a draws record names (``"name.npy (description)"`` as the goldens
    write it: the first word is the file, relative to the draws file's folder)."""
    if not isinstance(ref, str) or not ref.split():
        raise InputError(f"{source}: expected a .npy file name, got {ref!r}")
    path = base / ref.split()[0]
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot read {path} ({exc})") from None
    if shape is not None and tuple(arr.shape) != shape:
        raise InputError(f"{source}: {path} has shape {tuple(arr.shape)}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{source}: {path} holds NaN or infinite values")
    return arr


@dataclass(frozen=True)
class DrawsFile:
    """A parsed ``--draws`` file: per HR image name, its draw records (params.json shape)."""

    path: Path
    protocol: str | None  # as written in the file (checked against the build's)
    scale: int | None
    images: Mapping[str, tuple[Mapping[str, Any], ...]]
    sha256: str  # of the JSON and every .npy it names: the set's settings record it


def read_draws_file(path: str | Path) -> DrawsFile:
    """Read a draws JSON file; every problem is one line naming the file.

    Schema (docs/protocols.md)::

        {"protocol": "div2krk", "scale": 2,
         "images": {"<HR name>": [<record>, ...] or <record>}}

    where each record is the protocol's entry of an upstream ``params.json``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"draws file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"draws file {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), dict) \
            or not data["images"]:
        raise InputError(f"draws file {path} needs an \"images\" object mapping HR image "
                         "names to draw records (see docs/protocols.md)")
    images: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for name, records in data["images"].items():
        recs = records if isinstance(records, list) else [records]
        if not recs or not all(isinstance(r, dict) for r in recs):
            raise InputError(f"draws file {path}: image {name!r} needs one or more record "
                             "objects")
        images[name] = tuple(recs)
    scale = data.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int)):
        raise InputError(f"draws file {path}: scale must be an integer, got {scale!r}")
    digest = hashlib.sha256(path.read_bytes())
    for name in sorted(images):
        for rec in images[name]:
            for key, value in sorted(rec.items()):
                if key.endswith("_file") and isinstance(value, str) and value.split():
                    ref = path.parent / value.split()[0]
                    if ref.is_file():
                        digest.update(ref.read_bytes())
    return DrawsFile(path, data.get("protocol"), scale, images, digest.hexdigest())


def export_draws(path: str | Path, out: str | Path) -> Path:
    """Write a test set's recorded draws as a draws file (``draws.json`` + ``.npy`` files).

    Each array draw ``K`` of LR image ``i`` of image ``name`` becomes ``name_k<i>_K.npy``,
    named in the record as ``K_file``; scalars are copied. Building the same protocol,
    scale and HR set with ``draws=<out>/draws.json`` gives the same content hash.

    Raises:
        InputError: When the set has no recorded draws (protocols without random draws).
    """
    from bsrbench.datasets._store import TestSet

    out = Path(out)
    with TestSet(path) as ts:
        images: dict[str, list[dict[str, Any]]] = {}
        for im in ts:
            if not im.draws:
                raise InputError(f"{path} has no recorded draws (protocol "
                                 f"{ts.settings.protocol!r} draws nothing at random)")
            out.mkdir(parents=True, exist_ok=True)
            records = []
            for i, draw in enumerate(im.draws):
                rec: dict[str, Any] = {}
                for key, value in draw.items():
                    if isinstance(value, np.ndarray):
                        name = f"{im.name}_k{i}_{key}.npy"
                        np.save(out / name, value)
                        rec[f"{key}_file"] = name
                    else:
                        rec[key] = value
                records.append(rec)
            images[im.name] = records
        data = {"protocol": ts.settings.protocol, "scale": ts.settings.scale, "images": images}
    target = out / "draws.json"
    target.write_text(json.dumps(data, indent=1, default=float))
    return target

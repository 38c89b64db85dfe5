"""Tiles: run a network on overlapping LR tiles and stitch the results, for any image size.

A 2-4 MP photo through SFTMD or SRMD holds every activation of the whole image at once;
tiles bound that by the tile's size. Each core tile (``--tile SIZE`` LR pixels a side; the
image is cut into nearly equal cores, so odd sizes and border tiles need no special case)
is run with ``overlap`` LR pixels of real context on every side that has some, and only
the SR of its own core is kept. A network's output depends on no LR pixel farther than
its *receptive field* (radius, in LR pixels), so with ``overlap >= receptive field`` the
stitched image equals the whole-image one up to float rounding: the zero padding a tile
sees at its inner edges never reaches its core, and at the image border the tile's
border *is* the image's. No blending weights are needed.

The contract a part adopts to be tiled (SFTMD, SRMD and IKC here; any plugin may):

* ``receptive_field: int`` attribute on the object a factory returns (the method, or the
  non-blind model): the radius in LR pixels beyond which an LR pixel cannot change an SR
  pixel of its restoration network. It is the default overlap; an upper bound is fine (a
  bigger overlap only costs time), a smaller one breaks exactness.
* ``tiling: Tiling | None`` attribute, read at every call: the core sets it (from
  ``--tile``/``--tile-overlap`` through :func:`set_tiling`, or the runner's out-of-memory
  fallback); ``None`` runs the whole image. Factories may also read the initial value from
  the build context with :func:`tiling_from`.
* the part calls :func:`run_tiled` around its restoration network (the function of one LR
  tensor), and, for kernel estimators that pool a feature map over the whole image
  (IKC's Predictor and Corrector), :func:`pooled_mean`, which computes the same global
  average from tiles: such a part still sees the whole image, only its memory is bounded.
* optionally ``memory_estimate(shape, tiling) -> int``: peak working bytes for an LR batch
  of ``shape`` (B, C, h, w) under ``tiling``, which the runner checks against
  ``RunConfig.max_memory_mb``.

Parts that need the whole image in another way (zero-shot estimators that optimise on the
image, kernel estimators with non-local layers) do not set ``receptive_field`` and ignore
tiles. Torch is imported lazily: this module is part of the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "FALLBACK_TILES",
    "MIN_TILE",
    "Fit",
    "MemoryCapExceeded",
    "Tiling",
    "chain_receptive_field",
    "check_memory",
    "fallback_tiles",
    "free_memory",
    "is_out_of_memory",
    "memory_estimate",
    "needs_tiles",
    "pooled_mean",
    "run_tiled",
    "set_tiling",
    "tile_area",
    "tile_spans",
    "tileable_parts",
    "tiling_from",
    "untiled_note",
]

MIN_TILE = 8  # smaller cores cost more in overlap than they save
# tile sizes the runner's out-of-memory fallback tries, largest first (LR pixels)
FALLBACK_TILES = (512, 256, 128, 64, 32)


@dataclass(frozen=True)
class Tiling:
    """How to tile: ``--tile SIZE --tile-overlap PIXELS`` (LR pixels)."""

    size: int  # side of each core tile; the image is cut into nearly equal cores
    overlap: int | None = None  # context on each side; None: the part's receptive field

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) \
                or self.size < MIN_TILE:
            raise InputError(f"--tile must be an integer of at least {MIN_TILE} LR pixels, "
                             f"got {self.size!r}")
        if self.overlap is not None and (isinstance(self.overlap, bool) or not isinstance(
                self.overlap, int) or self.overlap < 0):
            raise InputError(f"--tile-overlap must be a non-negative integer, got "
                             f"{self.overlap!r} (leave it out for the exact default)")

    def overlap_for(self, receptive_field: int) -> int:
        """The overlap used for a part with this receptive field."""
        return receptive_field if self.overlap is None else self.overlap

    def capped(self, size: int) -> Tiling:
        """The same tiling with cores of at most ``size``: for parts with a small receptive
        field, whose overlap costs little, so smaller tiles bound memory almost for free."""
        return self if self.size <= size else Tiling(size, self.overlap)

    def label(self) -> str:
        """As the results' ``fallback`` column and run.json record it."""
        return f"tile={self.size}" + ("" if self.overlap is None else
                                      f",overlap={self.overlap}")


class MemoryCapExceeded(MemoryError):
    """A chunk's memory estimate is over ``RunConfig.max_memory_mb`` (treated as an OOM)."""


def tiling_from(ctx: Any) -> Tiling | None:
    """The tiling a build context asks for (its ``tile``/``tile_overlap``), or None."""
    size = getattr(ctx, "tile", None)
    return None if size is None else Tiling(size, getattr(ctx, "tile_overlap", None))


def tile_spans(length: int, size: int, align: int = 1) -> list[tuple[int, int]]:
    """Cores ``[a, b)`` covering ``0..length`` in ``ceil(length / size)`` nearly equal
    parts, each start a multiple of ``align`` (a strided network's grid)."""
    n = max(1, -(-length // size))
    step = -(-length // n)
    step = -(-step // align) * align
    return [(a, min(length, a + step)) for a in range(0, length, step)]


def needs_tiles(tiling: Tiling | None, height: int, width: int) -> bool:
    """True when ``tiling`` cuts an image of this size into more than one tile."""
    return tiling is not None and (height > tiling.size or width > tiling.size)


def tile_area(height: int, width: int, tiling: Tiling | None, overlap: int,
              align: int = 1) -> int:
    """Pixels of the largest tile (core plus context) of an image; the whole image when
    ``tiling`` does not cut it. For memory estimates."""
    if tiling is None or not needs_tiles(tiling, height, width):
        return height * width
    sides = []
    for length in (height, width):
        core = max(b - a for a, b in tile_spans(length, tiling.size, align))
        sides.append(min(length, core + 2 * overlap + align))
    return sides[0] * sides[1]


def run_tiled(fn: Callable[[Tensor], Tensor], lr: Tensor, scale: int, tiling: Tiling | None,
              receptive_field: int) -> Tensor:
    """``fn(lr)`` computed tile by tile: SR ``(..., scale*h, scale*w)``.

    Args:
        fn: the restoration network as a function of one LR tensor ``(..., h, w)`` (the
            kernel code or map is bound in it); it must be local within
            ``receptive_field`` and return ``scale`` times its input size.
        lr: LR images ``(B, C, h, w)``; every tile holds the whole batch.
        scale: SR factor.
        tiling: the tiling, or None for one whole-image call.
        receptive_field: the part's radius in LR pixels (the default overlap).
    """
    h, w = lr.shape[-2:]
    if tiling is None or not needs_tiles(tiling, h, w):
        return fn(lr)
    ov = tiling.overlap_for(receptive_field)
    out = None
    for y0, y1 in tile_spans(h, tiling.size):
        py0, py1 = max(0, y0 - ov), min(h, y1 + ov)
        for x0, x1 in tile_spans(w, tiling.size):
            px0, px1 = max(0, x0 - ov), min(w, x1 + ov)
            sr = fn(lr[..., py0:py1, px0:px1])
            if tuple(sr.shape[-2:]) != (scale * (py1 - py0), scale * (px1 - px0)):
                raise InputError(f"a tiled network returned {tuple(sr.shape[-2:])} for an "
                                 f"LR tile of {(py1 - py0, px1 - px0)} at x{scale}")
            if out is None:
                out = sr.new_empty((*sr.shape[:-2], scale * h, scale * w))
            out[..., scale * y0:scale * y1, scale * x0:scale * x1] = sr[
                ..., scale * (y0 - py0):scale * (y1 - py0),
                scale * (x0 - px0):scale * (x1 - px0)]
    assert out is not None  # at least one tile
    return out


def pooled_mean(fn: Callable[[Tensor], Tensor], x: Tensor, *, stride: int,
                receptive_field: int, size: int) -> Tensor:
    """The global average over positions of ``fn(x)``'s feature map, computed on tiles.

    ``fn`` is a fully convolutional feature map with 'same' padding: ``(B, C, H, W)`` to
    ``(B, D, ceil(H/stride), ceil(W/stride))``, local within ``receptive_field`` input
    pixels. Tiles start on the stride's grid and carry ``receptive_field + stride`` pixels
    of context, so each tile's core features equal the whole image's; their sum over the
    whole grid, divided by its size, is the whole image's mean (up to float rounding).

    Returns:
        ``(B, D)`` means, in ``fn``'s dtype.
    """
    import torch

    h, w = x.shape[-2:]
    ov = receptive_field + stride
    total, dtype = None, x.dtype
    for y0, y1 in tile_spans(h, size, stride):
        py0, py1 = max(0, y0 - ov) // stride * stride, min(h, y1 + ov)
        for x0, x1 in tile_spans(w, size, stride):
            px0, px1 = max(0, x0 - ov) // stride * stride, min(w, x1 + ov)
            fea = fn(x[..., py0:py1, px0:px1])
            want = (-(-(py1 - py0) // stride), -(-(px1 - px0) // stride))
            if tuple(fea.shape[-2:]) != want:
                raise InputError(f"a pooled network returned a {tuple(fea.shape[-2:])} map "
                                 f"for a tile of {(py1 - py0, px1 - px0)}, not {want}")
            gy, gx = py0 // stride, px0 // stride
            core = fea[..., y0 // stride - gy:-(-y1 // stride) - gy,
                       x0 // stride - gx:-(-x1 // stride) - gx]
            part, dtype = core.sum(dim=(-2, -1), dtype=torch.float64), fea.dtype
            total = part if total is None else total + part
    assert total is not None
    count = -(-h // stride) * -(-w // stride)
    return (total / count).to(dtype)


def chain_receptive_field(convs: Iterable[Any]) -> tuple[int, int]:
    """``(radius, stride)`` in input pixels of a plain chain of convolutions (objects with
    ``kernel_size``, ``stride`` and ``dilation``, e.g. ``nn.Conv2d``), in order."""
    radius, stride = 0, 1
    for conv in convs:
        k, s, d = (_first(conv.kernel_size), _first(conv.stride), _first(conv.dilation))
        radius += (k // 2) * d * stride
        stride *= s
    return radius, stride


def _first(value: int | Sequence[int]) -> int:
    return value if isinstance(value, int) else int(value[0])


def _parts(runnable: Any) -> list[Any]:
    """The objects of a built method: the method itself, or a composition's model and
    estimator."""
    return [p for p in (runnable, getattr(runnable, "model", None),
                        getattr(runnable, "estimator", None)) if p is not None]


def _tileable(part: Any) -> bool:
    return isinstance(getattr(part, "receptive_field", None), int)


def tileable_parts(runnable: Any) -> list[Any]:
    """The objects of a built method that declare ``receptive_field``: the method itself,
    or a composition's model and estimator."""
    return [p for p in _parts(runnable) if _tileable(p)]


def untiled_note(runnable: Any, label: str) -> str | None:
    """What ``--tile`` cannot do for ``runnable``: each part that runs on whole images says
    why (its ``whole_image`` attribute), or the method declares no receptive field at all;
    None when every part is tiled."""
    parts = _parts(runnable)
    reasons = [p.whole_image for p in parts
               if isinstance(getattr(p, "whole_image", None), str) and not _tileable(p)]
    any_tiled = any(_tileable(p) for p in parts)
    if reasons:
        why = "; ".join(dict.fromkeys(reasons))
        scope = "applies to its other parts only" if any_tiled else "has no effect on it"
        return f"--tile {scope}: {label} needs whole images ({why})"
    if not any_tiled:
        return f"{label} declares no receptive field: --tile has no effect on it"
    return None


def set_tiling(runnable: Any, tiling: Tiling | None) -> bool:
    """Set ``tiling`` on every tileable part of ``runnable``; False when it has none."""
    parts = tileable_parts(runnable)
    for part in parts:
        part.tiling = tiling
    return bool(parts)


def memory_estimate(runnable: Any, shape: tuple[int, int, int, int],
                    tiling: Tiling | None) -> int | None:
    """Peak working bytes the parts of ``runnable`` declare for an LR batch of ``shape``
    (their largest ``memory_estimate``), or None when no part declares one."""
    values = []
    for part in [runnable, getattr(runnable, "model", None),
                 getattr(runnable, "estimator", None)]:
        fn = getattr(part, "memory_estimate", None)
        if callable(fn):
            values.append(int(fn(shape, tiling)))
    return max(values) if values else None


def fallback_tiles(height: int, width: int, tiling: Tiling | None) -> list[Tiling]:
    """Tilings the out-of-memory fallback tries for an image, largest first: the sizes of
    :data:`FALLBACK_TILES` that cut it (and are smaller than a tiling already in use)."""
    limit = min(max(height, width), tiling.size if tiling is not None else 1 << 30)
    overlap = None if tiling is None else tiling.overlap
    return [Tiling(s, overlap) for s in FALLBACK_TILES if s < limit]


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a lack of memory: ``MemoryError`` (and :class:`MemoryCapExceeded`), torch's
    CUDA/MPS ``OutOfMemoryError``, or the CPU allocator's "can't allocate memory"."""
    seen: set[int] = set()
    while exc.__cause__ is not None and id(exc) not in seen:  # a plugin's re-raise
        seen.add(id(exc))
        if _oom(exc):
            return True
        exc = exc.__cause__
    return _oom(exc)


def _oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError",
                                                              None)
    if oom is not None and isinstance(exc, oom):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


@dataclass
class Fit:
    """What fits in memory for LR images of one size: batch size and tiling.

    The runner's out-of-memory fallback shrinks it in place (:meth:`shrink`); ``note``
    says what differs from the run's own settings, for the rows' ``fallback`` column.
    """

    batch: int  # LR images per forward pass
    tiling: Tiling | None  # tiles of the tileable parts; None: whole images
    note: str = ""  # "" or e.g. "batch=2", "batch=1,tile=256"
    base: tuple[int, Tiling | None] = field(init=False)  # the run's settings

    def __post_init__(self) -> None:
        self.base = (self.batch, self.tiling)

    def shrink(self, tried: int, shape: tuple[int, int], tileable: bool) -> bool:
        """Shrink after ``tried`` LR images of ``shape`` (h, w) ran out of memory: half
        the batch, then, at one image, the next smaller tiles (``tileable`` parts only).
        False when nothing smaller is left."""
        if tried > 1:
            self.batch = tried // 2
        else:
            smaller = fallback_tiles(*shape, self.tiling) if tileable else []
            if not smaller:
                return False
            self.tiling = smaller[0]
        notes = [f"batch={self.batch}"] if self.batch < self.base[0] else []
        if self.tiling is not None and self.tiling != self.base[1]:
            notes.append(self.tiling.label())
        self.note = ",".join(notes)
        return True


def check_memory(cap_mb: float | None, runnable: Any, shape: tuple[int, int, int, int],
                 tiling: Tiling | None) -> None:
    """Raise :class:`MemoryCapExceeded` when the parts' estimate for an LR batch of
    ``shape`` is over ``cap_mb`` (no cap, or no part with an estimate: no check)."""
    if cap_mb is None:
        return
    need = memory_estimate(runnable, shape, tiling)
    if need is not None and need > cap_mb * 2**20:
        raise MemoryCapExceeded(f"{shape[0]} LR images of {shape[2]}x{shape[3]} need about "
                                f"{need / 2**20:.0f} MB, over the cap of {cap_mb:g} MB")


def free_memory(device: str) -> None:
    """Collect garbage and return cached blocks to a CUDA device after an out-of-memory
    error (call it outside the ``except`` block, whose frames still hold the tensors)."""
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()

"""How many LR images the runner puts in one forward pass: a fixed ``--batch-size N``, or
``auto`` (the default), chosen per device and LR size from what the run measures.

Why measure: the best batch depends on the device, the method and the image size. On a
GPU, batching is where the speed comes from; on the project's 2-core CPU, IKC on Set5
Gaussian8 x4 ran 1.54x slower at a batch of 8 than one image at a time on the 128x128 LR
images and 1.14x slower on the 64x64 ones (activations of eight images no longer fit the
caches), so a constant is wrong somewhere whichever it is.

``auto`` grows the batch while it pays: for each LR size the runner tries 1, 2, 4, ... LR
images per pass (up to :data:`AUTO_CAP` for the device), timing each chunk from the
method's first step to its rows (scoring included), and keeps doubling while the time per
LR image falls by more than :data:`GAIN`; then it stays at the fastest size it measured.
The run's very first chunk warms the process up (weights prepacked, memory first
touched) and is not counted. Every measurement and choice goes into run.json.

The choice changes no result beyond float rounding: a network's output for one image
differs between batch sizes by about 1e-6 (measured for IKC on a CPU), which can move an
8-bit SR value by one level now and then. For bit-reproducible rows fix ``--batch-size``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bsrbench.errors import InputError

__all__ = ["AUTO", "AUTO_CAP", "GAIN", "Batcher", "check_batch_size"]

AUTO = "auto"
# the largest batch auto tries: a GPU gains from big batches (the out-of-memory fallback
# shrinks one that does not fit); elsewhere a batch beyond 8 has never paid
AUTO_CAP = {"cuda": 64}
DEFAULT_CAP = 8
GAIN = 0.05  # a larger batch must cut the time per LR image by more than this


def check_batch_size(value: Any) -> int | str:
    """``auto`` or a positive integer (an int or its digits), as the run takes it.

    Raises:
        InputError: anything else.
    """
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    text = str(value).strip()
    if isinstance(value, bool) or not isinstance(value, int | str) \
            or not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InputError(f"--batch-size must be 'auto' or an integer of at least 1, "
                         f"got {value!r}")
    return int(text)


@dataclass
class _Size:
    """The search at one LR size."""

    candidate: int = 1
    seconds: dict[int, float] = field(default_factory=dict)  # batch -> s per LR image
    chosen: int | None = None


@dataclass
class Batcher:
    """The batch size of each chunk of one run.

    ``next(size)`` says how many LR images the next chunk of that LR size holds;
    ``record(size, n, seconds)`` reports how long a chunk of ``n`` took.
    """

    setting: int | str  # a fixed size, or AUTO
    device: str = "cpu"
    sizes: dict[tuple[int, ...], _Size] = field(default_factory=dict)
    warm: bool = False

    def __post_init__(self) -> None:
        self.setting = check_batch_size(self.setting)

    @property
    def cap(self) -> int:
        """The largest batch this run uses."""
        if self.setting != AUTO:
            return int(self.setting)
        return AUTO_CAP.get(self.device.split(":")[0], DEFAULT_CAP)

    def next(self, size: tuple[int, ...]) -> int:
        if self.setting != AUTO:
            return int(self.setting)
        state = self.sizes.setdefault(size, _Size())
        return state.chosen if state.chosen is not None else state.candidate

    def record(self, size: tuple[int, ...], n: int, seconds: float, *,
               limit: int | None = None) -> None:
        """A chunk of ``n`` LR images of ``size`` took ``seconds``; ``limit``: the largest
        batch that fits in memory there (the fallback shrank it), which ends the search.
        """
        if self.setting == AUTO and not self.warm:
            self.warm = True  # the run's first chunk: one-time costs, not counted
            return
        state = self.sizes.get(size)
        if state is None or state.chosen is not None:
            return
        if limit is not None and limit < state.candidate:
            fitting = {b: s for b, s in state.seconds.items() if b <= limit}
            state.chosen = min(fitting, key=fitting.get) if fitting else limit
            return
        if n != state.candidate:  # the image's last, shorter chunk: not this candidate
            return
        per_image = seconds / n
        best = min(state.seconds.values(), default=None)
        state.seconds[n] = per_image
        if best is not None and per_image >= best * (1 - GAIN):
            state.chosen = min(state.seconds, key=state.seconds.get)
        elif 2 * n > self.cap:
            state.chosen = n
        else:
            state.candidate = 2 * n

    def describe(self) -> dict[str, Any]:
        """What run.json records: per LR size the seconds per LR image measured at each
        batch size tried and the one chosen (None while still searching)."""
        return {"x".join(map(str, size)): {
            "seconds_per_lr_image": {str(b): round(s, 4) for b, s in st.seconds.items()},
            "chosen": st.chosen} for size, st in self.sizes.items()}

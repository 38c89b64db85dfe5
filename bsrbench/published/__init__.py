"""Published results as data: numbers quoted from papers, to show beside measured ones.

bsrbench measures; papers report. A user who sees 29.01 dB for IKC on Set5 needs to know
that the IKC paper line reads 31.67, where that number comes from, and under which
protocol, downsampler and metric it was obtained, so the table ships as package data
(``results.csv``, its header says which source each row was read from) rather than as
constants scattered through the report code.

:func:`load` reads the table, :func:`match` finds the one row that describes the same
method, protocol, test set and scale as a measured result, and :func:`select` filters rows
by fnmatch patterns (the ``bsrbench published`` command). A quoted row is never a
measurement: callers show it marked as quoted and never rank it with measured rows.

Dataset names: a row names its test set as the source does (``Set5``, ``Set14``, ``B100``,
``Urban100``, ``Manga109``, ``DIV2KRK``). bsrbench's dataset labels carry the HR folder
name (``gaussian8/Set5``); :data:`ALIASES` lists the folder names accepted for each set,
case-insensitively. Only true aliases of the same images are listed: ``BSD100`` and
``BSDS100`` are B100 (the 100 test images of BSD300), but ``BSD68`` (68 images, the
denoising benchmark) is a different set and never matches B100.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["ALIASES", "PublishedResult", "canonical_dataset", "load", "match", "select"]

# Canonical set name -> HR folder names accepted for it (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "Set5": ("Set5",),
    "Set14": ("Set14",),
    "B100": ("B100", "BSD100", "BSDS100"),
    "Urban100": ("Urban100",),
    "Manga109": ("Manga109",),
    "DIV2KRK": ("DIV2KRK", "DIV2KRK_public"),
}
_LOOKUP = {alias.casefold(): name for name, names in ALIASES.items() for alias in names}

_FIELDS = ("method", "published_as", "protocol", "downsampler", "dataset", "scale", "noise",
           "psnr", "ssim", "convention", "paper", "table", "source", "note")
_REQUIRED = ("method", "published_as", "protocol", "dataset", "scale", "noise", "psnr",
             "convention", "paper", "table", "source")


@dataclass(frozen=True)
class PublishedResult:
    """One published number: a method on one test set at one scale, as its source states it."""

    method: str  # bsrbench method label the row describes ("ikc", "danv1"; "a+b" = no method)
    published_as: str  # the method's name in the source ("DANv1", "KernelGAN + ZSSR")
    protocol: str  # bsrbench protocol whose test set this is ("gaussian8", "div2krk-release")
    downsampler: str  # bsrbench downsampler the source used; "" when it has no choice or says none
    dataset: str  # canonical test-set name, a key of ALIASES ("Set5", "B100", "DIV2KRK")
    scale: int  # upscaling factor
    noise: float  # std of the added Gaussian noise in 0..255 units (0: noise-free test set)
    psnr: float  # mean PSNR in dB, as printed
    ssim: float | None  # mean SSIM as printed; None when the source gives none
    convention: str  # the metric convention the source states ("not stated ..." if none)
    paper: str  # authors, title, venue, year of the paper the number belongs to
    table: str  # the table (and section) the number was read from
    source: str  # where it was read: repository file and commit, or the paper itself
    note: str  # caveats: re-tested by other authors, revised after publication, ...

    @property
    def key(self) -> tuple[str, str, str, str, int, float]:
        """What identifies a row: method, protocol, downsampler, dataset, scale, noise.

        The downsampler and noise belong to the key because they change the LR images: one
        paper's Gaussian8 with PIL bicubic is not another's with MATLAB bicubic.
        """
        return (self.method, self.protocol, self.downsampler, self.dataset, self.scale,
                self.noise)

    @property
    def citation(self) -> str:
        """One line naming the paper, the table and where the number was read."""
        return f"{self.paper}; {self.table}; read from {self.source}"


def canonical_dataset(name: str) -> str | None:
    """The canonical set name of a dataset label or HR folder name, or None if unknown.

    ``"gaussian8/BSD100"`` and ``"bsd100"`` give ``"B100"``; ``"BSD68"`` gives None.
    """
    return _LOOKUP.get(name.rsplit("/", 1)[-1].strip().casefold())


def load(path: str | Path | None = None) -> list[PublishedResult]:
    """Read the table of published results (the packaged ``results.csv`` by default).

    Raises:
        InputError: the file is missing or a row is malformed (missing source or table,
            value out of range, unknown dataset, duplicate key); the message names the
            file and line.
    """
    if path is None:
        return list(_packaged())
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file; give a CSV with the columns of results.csv")
    return list(_parse(Path(path).read_text(encoding="utf-8"), str(path)))


@functools.cache
def _packaged() -> tuple[PublishedResult, ...]:
    text = resources.files(__name__).joinpath("results.csv").read_text(encoding="utf-8")
    return _parse(text, "bsrbench/published/results.csv")


def _parse(text: str, where: str) -> tuple[PublishedResult, ...]:
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"{where}: no header line; expected columns {', '.join(_FIELDS)}")
    reader = csv.reader([line for _, line in numbered])
    header = next(reader)
    if tuple(header) != _FIELDS:
        raise InputError(f"{where}:{numbered[0][0]}: columns must be {', '.join(_FIELDS)}")
    rows: list[PublishedResult] = []
    seen: dict[tuple[str, str, str, str, int, float], int] = {}
    for (lineno, _), cells in zip(numbered[1:], reader):
        row = _row(dict(zip(_FIELDS, cells)), len(cells), f"{where}:{lineno}")
        if row.key in seen:
            raise InputError(f"{where}:{lineno}: duplicate row {row.key} "
                             f"(first on line {seen[row.key]}); keep one per source")
        seen[row.key] = lineno
        rows.append(row)
    return tuple(rows)


def _row(cells: dict[str, str], n: int, at: str) -> PublishedResult:
    if n != len(_FIELDS):
        raise InputError(f"{at}: {n} cells, expected {len(_FIELDS)}; quote cells with commas")
    cells = {k: v.strip() for k, v in cells.items()}
    for field in _REQUIRED:
        if not cells[field]:
            raise InputError(f"{at}: empty {field!r}: every row needs its paper, table and "
                             "source and the metric convention (write 'not stated' if none)")
    if cells["dataset"] not in ALIASES:
        raise InputError(f"{at}: unknown dataset {cells['dataset']!r}; use one of "
                         f"{', '.join(ALIASES)} or add the set to ALIASES")
    try:
        scale = int(cells["scale"])
        noise = float(cells["noise"])
        psnr = float(cells["psnr"])
        ssim = float(cells["ssim"]) if cells["ssim"] else None
    except ValueError as exc:
        raise InputError(f"{at}: {exc}: scale is an integer, psnr and ssim numbers") from None
    if not 2 <= scale <= 16:
        raise InputError(f"{at}: scale {scale} out of range 2..16")
    if not (math.isfinite(noise) and 0.0 <= noise <= 255.0):
        raise InputError(f"{at}: noise {noise} is outside 0..255 (units of 8-bit levels)")
    if not (math.isfinite(psnr) and 10.0 <= psnr <= 60.0):
        raise InputError(f"{at}: psnr {psnr} dB is outside 10..60: a typo?")
    if ssim is not None and not 0.0 < ssim <= 1.0:
        raise InputError(f"{at}: ssim {ssim} is outside (0, 1]")
    return PublishedResult(
        method=cells["method"], published_as=cells["published_as"],
        protocol=cells["protocol"], downsampler=cells["downsampler"],
        dataset=cells["dataset"], scale=scale, noise=noise, psnr=psnr, ssim=ssim,
        convention=cells["convention"], paper=cells["paper"], table=cells["table"],
        source=cells["source"], note=cells["note"])


def match(method: str, protocol: str, dataset: str, scale: int,
          downsampler: str | None = None, noise: float = 0.0,
          rows: Sequence[PublishedResult] | None = None) -> PublishedResult | None:
    """The published row for a measured result, or None when the table has none.

    Args:
        method: bsrbench's method label as in results.csv (``"ikc"``). Compared exactly:
            a composition such as ``"sftmd+ikc"`` is another method and matches nothing.
        protocol: the protocol the test set was built with (``"gaussian8"``).
        dataset: the dataset label (``"gaussian8/Set5"``) or the bare HR folder name
            (``"Set5"``); see :data:`ALIASES`. A label's protocol part must equal
            ``protocol``. The embedded default set (label ``"gaussian8"``) matches nothing.
        scale: the upscaling factor.
        downsampler: the run's downsampler; when given, a row that names a different one
            does not match (different LR images are a different test set). Without it,
            rows that differ only in their downsampler are ambiguous and none is returned.
        noise: the run's added noise std (0..255 units); only a row with the same noise
            matches, so a noisy run is never put beside a noise-free number.
        rows: the table to search (default: the packaged one, see :func:`load`).
    """
    prefix, _, folder = dataset.rpartition("/")
    if prefix and prefix != protocol:
        return None
    name = canonical_dataset(folder)
    if name is None:
        return None
    found = [row for row in (_packaged() if rows is None else rows)
             if row.method == method and row.protocol == protocol and row.dataset == name
             and row.scale == int(scale) and math.isclose(row.noise, float(noise))
             and not (downsampler and row.downsampler and row.downsampler != downsampler)]
    if downsampler and len(found) > 1:  # prefer the row that names the run's downsampler
        found = [row for row in found if row.downsampler == downsampler] or found
    return found[0] if len(found) == 1 else None


def select(method: str = "*", dataset: str = "*", scale: str = "*",
           protocol: str = "*") -> list[PublishedResult]:
    """Rows whose fields match fnmatch patterns (case-insensitive), in table order.

    A dataset pattern that is exactly an alias (``BSD100``) selects its set (B100);
    ``scale`` may be written ``4`` or ``x4``.
    """
    dataset = canonical_dataset(dataset) or dataset
    scale = scale.lower().removeprefix("x")

    def hit(value: str, pattern: str) -> bool:
        return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())

    return [row for row in _packaged()
            if hit(row.method, method) and hit(row.dataset, dataset)
            and hit(str(row.scale), scale) and hit(row.protocol, protocol)]

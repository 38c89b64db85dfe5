"""Where SRMD weights are looked for, without importing torch.

Kept apart from :mod:`bsrbench_srmd.model` so the plugin's spec can answer
``weights_available`` while listing methods, which must not import torch.

File names follow KAIR's release (``srmd_x4.pth``, ``srmdnf_x4.pth``, ...) and bsrbench's own
format (``srmd_x4.safetensors``). The bundled folder ``weights/`` is filled by
``bsrbench train srmd``; a ``sha256.json`` file there (``{"srmd_x4.safetensors": hex}``)
pins the bundled files, which are then checked before they are read. It is JSON rather than
a ``SHA256SUMS`` text file so that the package-data globs ship it with the weights.
"""

from __future__ import annotations

from pathlib import Path

from bsrbench.errors import InputError, WeightsError

__all__ = [
    "BUNDLED_DIR",
    "IN_CHANNELS",
    "SCALES",
    "bundled_sha256",
    "check_scale",
    "check_variant",
    "find_weights",
    "weight_names",
    "weights_available",
]

BUNDLED_DIR = Path(__file__).with_name("weights")
# Input channels per variant: 3 LR + 15 PCA codes (+ 1 noise level for noise-aware srmd).
IN_CHANNELS = {"srmd": 19, "srmdnf": 18}
SCALES = (2, 3, 4)  # the factors KAIR released models for
_SUFFIXES = (".safetensors", ".pth", ".pt")


def check_variant(variant: str) -> str:
    """Return ``variant`` if it is ``srmd`` or ``srmdnf``, else raise InputError."""
    if variant not in IN_CHANNELS:
        raise InputError(f"unknown SRMD variant {variant!r}: use 'srmd' or 'srmdnf'")
    return variant


def check_scale(scale: int) -> int:
    """Return ``scale`` if SRMD has models for it, else raise InputError."""
    if scale not in SCALES:
        raise InputError(f"SRMD has models for scales 2, 3 and 4 only, got {scale}")
    return scale


def weight_names(scale: int, variant: str) -> tuple[str, ...]:
    """File names tried in a weights folder, in order: bsrbench's, then KAIR's."""
    stem = f"{check_variant(variant)}_x{check_scale(scale)}"
    return (f"{stem}.safetensors", f"{stem}.pth")


def find_weights(path: str | Path | None, scale: int, variant: str = "srmd") -> Path:
    """Resolve the weights file for one variant and scale.

    Args:
        path: A weights file (used as given), a folder to search, or None for the bundled
            folder.
        scale: SR factor, 2, 3 or 4.
        variant: ``srmd`` (noise-aware, 19 inputs) or ``srmdnf`` (noise-free, 18 inputs).

    Returns:
        The file to load.

    Raises:
        WeightsError: Nothing usable was found; the message lists the names looked for.
    """
    names = weight_names(scale, variant)
    wanted = " or ".join(names)
    if path is None:
        found = _first_existing(BUNDLED_DIR, names)
        if found is None:
            raise WeightsError(
                f"no bundled {variant} x{scale} weights ({wanted} in {BUNDLED_DIR}): pass "
                f"--weights with KAIR's {variant}_x{scale}.pth, or train them with "
                "`bsrbench train srmd`"
            )
        return found
    path = Path(path)
    if path.is_file():
        if path.suffix not in _SUFFIXES:
            raise WeightsError(f"{path} is not a .safetensors or .pth weights file")
        return path
    if path.is_dir():
        found = _first_existing(path, names)
        if found is None:
            raise WeightsError(
                f"no {variant} x{scale} weights in {path}: looked for {wanted} "
                "(KAIR's release names or bsrbench's)"
            )
        return found
    raise WeightsError(f"weights path {path} does not exist: pass a file or a folder with {wanted}")


def weights_available(scale: int, variant: str = "srmd") -> bool:
    """Return True when the bundled folder holds weights for ``variant`` at ``scale``."""
    if scale not in SCALES or variant not in IN_CHANNELS:
        return False
    return _first_existing(BUNDLED_DIR, weight_names(scale, variant)) is not None


def bundled_sha256(path: Path) -> str | None:
    """Return the hash ``weights/sha256.json`` pins for a bundled file, or None.

    Files outside the bundled folder (a user's ``--weights``) have no known hash.

    Raises:
        WeightsError: ``sha256.json`` exists but is not a JSON object of strings.
    """
    from bsrbench.weights import pinned_sha256

    path = Path(path)
    if path.resolve().parent != BUNDLED_DIR.resolve():
        return None
    return pinned_sha256(path)


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None

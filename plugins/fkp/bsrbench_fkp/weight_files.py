"""Where the FKP plugin's weights live, without importing torch.

Kept apart from the network modules so the specs can answer ``weights_available`` while
listing plugins. The bundled files in ``weights/`` are the FKP authors' releases
(``JingyunLiang/FKP``, Apache-2.0) converted tensor for tensor to safetensors by
``plugins/fkp/scripts/convert_release.py``; ``weights/sha256.json`` pins them. A user may
instead pass the original release files (``usrnet_tiny.pth``, ``FKP_x4.pt``), whose sha256
is listed in :data:`RELEASE_SHA256` and checked before reading.
"""

from __future__ import annotations

from pathlib import Path

from bsrbench.errors import InputError, WeightsError

__all__ = [
    "BUNDLED_DIR",
    "FKP_SCALES",
    "RELEASE_SHA256",
    "SOURCE_COMMIT",
    "SOURCE_REPO",
    "find_file",
    "fkp_names",
    "usrnet_names",
    "weights_available",
]

BUNDLED_DIR = Path(__file__).with_name("weights")
SOURCE_REPO = "JingyunLiang/FKP"
SOURCE_COMMIT = "127c12103ebbfca7b4a6cf4f03c0c44dd24c10bb"
FKP_SCALES = (2, 3, 4)  # the flow priors FKP released
# sha256 of the released files (FACTS.md §7 of the reference bundle; data/pretrained_models/)
RELEASE_SHA256 = {
    "usrnet_tiny.pth": "d82929fc053d6bbe181adba9e2be3d23548eeca8b7b4232eb122f020352295cf",
    "FKP_x2.pt": "6e361944816c35b8e8ed62772b3bad37c3fbaf2f1cb3976ffbcbe64789b3d794",
    "FKP_x3.pt": "6b06812400da0bd90e2584fac98031261001907c11a51be3b4692e2fd1bae27d",
    "FKP_x4.pt": "ec52371cba7a8bdad6e1ac21cce9a55773cbb3356de29bf001353fac338a268e",
}
_SUFFIXES = (".safetensors", ".pth", ".pt")


def usrnet_names() -> tuple[str, ...]:
    """File names tried for USRNet-tiny in a folder: bsrbench's, then the release's."""
    return ("usrnet_tiny.safetensors", "usrnet_tiny.pth")


def fkp_names(scale: int) -> tuple[str, ...]:
    """File names tried for the flow prior of ``scale``: bsrbench's, then the release's."""
    if scale not in FKP_SCALES:
        raise InputError(f"FKP released flow priors for x2, x3 and x4 only, got x{scale}")
    return (f"fkp_x{scale}.safetensors", f"FKP_x{scale}.pt")


def find_file(path: str | Path | None, names: tuple[str, ...], what: str) -> Path:
    """Resolve a weights file: ``path`` itself, a match of ``names`` in the folder ``path``,
    or (None) the bundled folder.

    Raises:
        WeightsError: nothing usable found; the message lists the names looked for.
    """
    wanted = " or ".join(names)
    if path is None:
        found = _first(BUNDLED_DIR, names)
        if found is None:
            raise WeightsError(f"no bundled {what} weights ({wanted} in {BUNDLED_DIR}): "
                               "reinstall bsrbench or pass --weights with the FKP release file")
        return found
    path = Path(path)
    if path.is_file():
        if path.suffix not in _SUFFIXES:
            raise WeightsError(f"{path} is not a .safetensors, .pth or .pt weights file")
        return path
    if path.is_dir():
        found = _first(path, names)
        if found is None:
            raise WeightsError(f"no {what} weights in {path}: looked for {wanted}")
        return found
    raise WeightsError(f"weights path {path} does not exist: pass a file or a folder with {wanted}")


def weights_available(scale: int, kind: str = "usrnet") -> bool:
    """True when the bundled folder holds the weights ``kind`` needs at ``scale``."""
    if scale not in FKP_SCALES:
        return False
    names = usrnet_names() if kind == "usrnet" else fkp_names(scale)
    return _first(BUNDLED_DIR, names) is not None


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None

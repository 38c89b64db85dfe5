"""Loading weights safely: safetensors, or torch files with ``weights_only=True``.

No checkpoint is ever unpickled as code. When a sha256 is known for a file (bundled weights,
official releases a plugin lists), the file is checked before it is read.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bsrbench.errors import WeightsError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "PINS_FILE",
    "bundled_pins",
    "count_indexed",
    "file_sha256",
    "load_state_dict",
    "pinned_sha256",
    "save_state_dict",
]

# A JSON object {file name: sha256} beside weights files pins their hashes (bundled weights).
PINS_FILE = "sha256.json"


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pinned_sha256(path: str | Path) -> str | None:
    """The hash that a ``sha256.json`` beside ``path`` records for it, or None."""
    import json

    path = Path(path)
    pins = path.parent / PINS_FILE
    if not pins.is_file():
        return None
    try:
        table = json.loads(pins.read_text())
    except ValueError as exc:
        raise WeightsError(f"{pins} is not valid JSON ({exc}): fix or regenerate it") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise WeightsError(f"{pins} must map file names to sha256 hex strings")
    return table.get(path.name)


def load_state_dict(
    path: str | Path, *, sha256: str | None = None, known: Mapping[str, str] | None = None
) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file, without unpickling code.

    Args:
        path: the weights file.
        sha256: the expected hash; when None, the hash pinned in a ``sha256.json`` beside
            the file, else ``known[file name]`` (official releases a plugin lists). A
            mismatch is an error naming the file and both hashes.
        known: hashes of released files by file name.

    Returns:
        The tensors by key, on the CPU. A bare tensor file (IKC's ``pca_matrix.pth``) comes
        back as ``{"": tensor}``; a ``{"state_dict": ...}`` wrapper is unwrapped.

    Raises:
        WeightsError: missing file, hash mismatch, or a file that is not plain tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    if path.stat().st_size == 0:
        kind = "safetensors file" if path.suffix == ".safetensors" else "checkpoint"
        raise WeightsError(f"{path} is not a valid {kind}: it is empty (0 bytes), an "
                           "interrupted copy or download? fetch it again")
    if sha256 is None:
        sha256 = pinned_sha256(path) or (known or {}).get(path.name)
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise WeightsError(
                f"weights file {path} has sha256 {actual}, expected {sha256}: "
                "the file is corrupt or not the release it claims to be (rename your own "
                "checkpoints so they do not pose as a release)"
            )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:  # safetensors raises several types for bad files
            raise WeightsError(f"{path} is not a valid safetensors file: {exc}") from None
    try:
        with warnings.catch_warnings():  # torch warns about the unpickler on odd files
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code, RuntimeError for junk
        # torch's own text advises weights_only=False, i.e. running the file's code: never
        # relay it; say what the file is not and what to pass instead
        raise WeightsError(
            f"{path} is not a checkpoint of plain tensors (read with weights_only=True: "
            f"{type(exc).__name__}): bsrbench "
            "never runs code from weights files; pass a state dict saved with "
            "torch.save(model.state_dict(), ...) or a .safetensors file"
        ) from None
    if isinstance(obj, torch.Tensor):
        return {"": obj}
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return {str(k): v for k, v in obj.items()}


def save_state_dict(
    state: Mapping[str, Tensor], path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write contiguous CPU tensors to ``path`` as safetensors (with string metadata)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=dict(metadata or {}))


def bundled_pins(folder: str | Path, names: list[str] | tuple[str, ...],
                 label: str) -> dict[str, str]:
    """``{label/name: sha256}`` for the bundled files ``names`` that ``folder``'s
    ``sha256.json`` pins (files it does not pin are left out); for run.json."""
    import json

    pins = Path(folder) / PINS_FILE
    if not pins.is_file():
        return {}
    table = json.loads(pins.read_text())
    return {f"{label}/{n}": table[n] for n in names if n in table}


def count_indexed(state: Mapping[str, object], prefix: str) -> int:
    """How many numbered blocks ``prefix<i>.`` a state dict holds (``max i + 1``; 0 for
    none): how a loader infers a released network's depth from its keys."""
    import re

    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pat.match(k))}
    return max(found) + 1 if found else 0

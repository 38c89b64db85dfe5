"""Strict, safe loading of the FKP release's weights (safetensors or the original files).

The flow priors ship as ``{"model_state": state_dict}`` torch files; USRNet-tiny as a plain
state dict. Both are read with ``weights_only=True`` (no code is unpickled) after their
sha256 is checked (bundled files against ``weights/sha256.json``, release files against
:data:`~bsrbench_fkp.weight_files.RELEASE_SHA256`). Loading is strict: every key used,
every shape checked, with a one-line :class:`~bsrbench.errors.WeightsError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from bsrbench.errors import WeightsError
from bsrbench.weights import file_sha256, load_state_dict, pinned_sha256
from bsrbench_fkp.weight_files import BUNDLED_DIR, RELEASE_SHA256

__all__ = ["load_into", "read_state"]


def _expected_sha256(path: Path) -> str | None:
    if path.resolve().parent == BUNDLED_DIR.resolve():
        return pinned_sha256(path)
    return RELEASE_SHA256.get(path.name)


def read_state(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict (hash-checked when the file is known), unwrapping ``model_state``.

    Raises:
        WeightsError: missing/corrupt file, hash mismatch, or not a dict of tensors.
    """
    path = Path(path)
    sha = _expected_sha256(path) if path.is_file() else None
    if path.suffix == ".safetensors" or not path.is_file():
        return load_state_dict(path, sha256=sha)
    if sha is not None and file_sha256(path) != sha:
        raise WeightsError(f"weights file {path} has sha256 {file_sha256(path)}, expected "
                           f"{sha}: the file is corrupt or not the FKP release it claims to be")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code, RuntimeError for junk
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{path} could not be loaded as plain tensors "
                           f"(weights_only=True): {first}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("model_state"), Mapping):
        obj = obj["model_state"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return {str(k): v for k, v in obj.items()}


def load_into(net: nn.Module, path: str | Path, what: str) -> nn.Module:
    """Load ``path`` into ``net`` strictly and return it.

    Raises:
        WeightsError: naming the file and the first missing, unexpected or mis-shaped key.
    """
    state = read_state(path)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        raise WeightsError(f"{path} lacks {_listing(missing)}, needed by {what}: pass the "
                           "FKP release file or the bundled safetensors")
    if extra:
        raise WeightsError(f"{path} has unexpected {_listing(extra)} for {what}: pass the "
                           "FKP release file or the bundled safetensors")
    for key, want in expected.items():
        if state[key].shape != want.shape:
            raise WeightsError(f"{path}: {key} has shape {tuple(state[key].shape)}, {what} "
                               f"expects {tuple(want.shape)}")
    net.load_state_dict(state, strict=True)
    return net


def _listing(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"

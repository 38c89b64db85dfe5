"""Loading DAN checkpoints as upstream saves them, strictly.

Upstream's ``save_network`` writes ``net.module.state_dict()``: a flat dict of tensors with
``Restorer.*``/``Estimator.*`` keys plus the buffers ``encoder`` (the PCA), ``init_kernel``
and ``init_ker_map``; a leading ``module.`` is stripped when present (FACTS.md §6).
Upstream loads non-strictly, which silently keeps random weights for any key a file
lacks, so here every key must be present and used and every shape must match, and a wrong
file is one line naming what differs. Width and depth are read from the file (the seeded
golden checkpoints are narrower than the official ones); version, scale, kernel size and
code length must be those of the requested configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from bsrbench.errors import WeightsError
from bsrbench.releases import read_checkpoint
from bsrbench.weights import count_indexed
from bsrbench_dan.arch import DAN, DANConfig
from bsrbench_dan.configs import Official

__all__ = ["check_state_dict", "infer_config", "load_dan", "read_checkpoint"]


def infer_config(state: Mapping[str, Tensor], want: Official, source: str | Path,
                 loop: int) -> DANConfig:
    """Read version, width, depth, scale, kernel size and code length from ``state``.

    Raises:
        WeightsError: the file is not a DAN checkpoint, or is one for another version,
            scale, kernel size or code length than ``want`` (the message says which).
    """
    what = f"danv{want.version} x{want.scale} setting {want.setting}"
    if "Restorer.head.weight" in state:
        version, head = 1, state["Restorer.head.weight"]
    elif "Restorer.head1.weight" in state:
        version, head = 2, state["Restorer.head1.weight"]
    else:
        raise WeightsError(f"{source} is not a DAN checkpoint (no Restorer.head.weight or "
                           f"Restorer.head1.weight; keys start {_first(state)}): {what} needs "
                           f"upstream's {want.name}.pth")
    if version != want.version:
        raise WeightsError(f"{source} is a DANv{version} checkpoint, {what} needs DANv"
                           f"{want.version} ({want.name}.pth)")
    nf = int(head.shape[0])
    up = state.get("Restorer.upscale.0.weight")
    scale = 4 if "Restorer.upscale.4.weight" in state else (
        round((int(up.shape[0]) // nf) ** 0.5) if up is not None else 0)
    encoder = state.get("encoder")
    k = int(state["init_kernel"].shape[-1]) if "init_kernel" in state else want.kernel_size
    para = int(encoder.shape[-1]) if encoder is not None else want.para
    found = f"x{scale}, {k}x{k} kernels, {para} codes"
    if (scale, k, para) != (want.scale, want.kernel_size, want.para):
        raise WeightsError(
            f"{source} is a DANv{version} checkpoint for {found}; {what} needs x{want.scale}, "
            f"{want.kernel_size}x{want.kernel_size} kernels, {want.para} codes "
            f"({want.name}.pth)")
    if version == 1:
        return DANConfig(1, scale, k, para, nf, nb=count_indexed(state, "Restorer.body."),
                         loop=loop)
    return DANConfig(2, scale, k, para, nf, nb=count_indexed(state, "Restorer.body.0.body."),
                     ng=count_indexed(state, "Restorer.body."), loop=loop)


def check_state_dict(state: Mapping[str, Tensor], net: DAN, source: str | Path) -> None:
    """Raise a one-line WeightsError naming the first missing, extra or mis-shaped key."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    what = f"DANv{net.cfg.version} x{net.cfg.scale}"
    if missing:
        raise WeightsError(f"{source} lacks {_listing(missing)}, needed by {what}")
    if extra:
        raise WeightsError(f"{source} has unexpected {_listing(extra)} for {what}")
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, {what} "
                               f"expects {tuple(want.shape)}")


def load_dan(path: str | Path, want: Official, loop: int) -> DAN:
    """Build the network ``path`` holds for configuration ``want`` and load it strictly.

    Returns:
        The network on the CPU in eval mode, with the checkpoint's PCA (``encoder``).
    """
    state = read_checkpoint(path)
    net = DAN(infer_config(state, want, path, loop))
    check_state_dict(state, net, path)
    net.load_state_dict(state, strict=True)
    return net.eval()


def _first(state: Mapping[str, Tensor]) -> str:
    return ", ".join(repr(k) for k in list(state)[:2]) or "(empty file)"


def _listing(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"

"""Loading DCLS checkpoints as upstream saves them, strictly.

Upstream writes ``net.module.state_dict()`` (flat, ``Restorer.*``/``Estimator.*`` keys; a
leading ``module.`` is stripped) and loads non-strictly; here every key must be present
and used and every shape must match, and a wrong file is one line naming what differs.
Width, depth and latent length are read from the file (the seeded golden checkpoints are
smaller than the official ones); scale and kernel size must be the requested ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from bsrbench.errors import WeightsError
from bsrbench.releases import read_checkpoint
from bsrbench.weights import count_indexed
from bsrbench_dcls.arch import DCLS, FILTERS, G_CHAN, DCLSConfig
from bsrbench_dcls.configs import Official

__all__ = ["check_state_dict", "infer_config", "load_dcls", "read_checkpoint"]


def _kernel_size(state: Mapping[str, Tensor]) -> int | None:
    first = state.get("Estimator.dec.0.weight")
    n = count_indexed(state, "Estimator.dec.")
    for k, filters in FILTERS.items():
        if first is not None and len(filters) == n and \
                first.shape[0] == G_CHAN * 3 * filters[0] ** 2:
            return k
    return None


def infer_config(state: Mapping[str, Tensor], want: Official, source: str | Path
                 ) -> DCLSConfig:
    """Read width, depth, latent length, scale and kernel size from ``state``.

    Raises:
        WeightsError: not a DCLS checkpoint, or one for another scale or kernel size.
    """
    what = f"dcls x{want.scale} setting {want.setting}"
    head = state.get("Restorer.conv_first.weight")
    latent = state.get("Estimator.tail.4.weight")
    if head is None or latent is None:
        first = ", ".join(repr(k) for k in list(state)[:2]) or "(empty file)"
        raise WeightsError(f"{source} is not a DCLS checkpoint (no Restorer.conv_first or "
                           f"Estimator.tail.4; keys start {first}): {what} needs "
                           f"{want.filename}")
    nf = int(head.shape[0])
    up = state.get("Restorer.upscale.0.weight")
    scale = 4 if "Restorer.upscale.4.weight" in state else (
        round((int(up.shape[0]) // nf) ** 0.5) if up is not None else 0)
    k = _kernel_size(state)
    if (scale, k) != (want.scale, want.kernel_size):
        ks = f"{k}x{k} kernels" if k else "an unknown kernel generator"
        raise WeightsError(f"{source} is a DCLS checkpoint for x{scale} with {ks}; {what} "
                           f"needs x{want.scale} with {want.kernel_size}x{want.kernel_size} "
                           f"kernels ({want.filename})")
    return DCLSConfig(scale, want.kernel_size, int(latent.shape[0]), nf,
                      nb=count_indexed(state, "Restorer.body.0.body."),
                      ng=count_indexed(state, "Restorer.body."))


def check_state_dict(state: Mapping[str, Tensor], net: DCLS, source: str | Path) -> None:
    """Raise a one-line WeightsError naming the first missing, extra or mis-shaped key."""
    expected = net.state_dict()
    what = f"DCLS x{net.cfg.scale} ({net.cfg.kernel_size}x{net.cfg.kernel_size} kernels)"
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        raise WeightsError(f"{source} lacks {_listing(missing)}, needed by {what}")
    if extra:
        raise WeightsError(f"{source} has unexpected {_listing(extra)} for {what}")
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, {what} "
                               f"expects {tuple(want.shape)}")


def load_dcls(path: str | Path, want: Official) -> DCLS:
    """Build the network ``path`` holds for ``want``, load it strictly, return it (eval)."""
    state = read_checkpoint(path)
    net = DCLS(infer_config(state, want, path))
    check_state_dict(state, net, path)
    net.load_state_dict(state, strict=True)
    return net.eval()


def _listing(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"

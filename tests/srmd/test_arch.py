"""SRMD architecture: the state-dict layout must equal KAIR's key lists exactly."""

from __future__ import annotations

import json

import pytest
import torch
from bsrbench_srmd.arch import SRMD
from shared_bundle import shared_dir

from bsrbench.errors import InputError

VARIANTS = [(v, s) for v in ("srmd", "srmdnf") for s in (2, 3, 4)]


@pytest.mark.parametrize(("variant", "scale"), VARIANTS)
def test_srmd_keys_match_kair(variant: str, scale: int) -> None:
    ref = json.loads(shared_dir("reference", "srmd", f"keys_{variant}_x{scale}.json").read_text())
    args = ref["constructor_args"]
    with torch.device("meta"):  # shapes only: no memory, no init cost
        net = SRMD(in_nc=args["in_nc"], out_nc=args["out_nc"], nc=args["nc"], nb=args["nb"],
                   scale=args["upscale"])
    keys = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert keys == ref["keys"]
    assert sum(v.numel() for v in net.state_dict().values()) == ref["num_params"]


def test_srmd_defaults_are_the_released_x4_layout() -> None:
    with torch.device("meta"):
        net = SRMD()
    state = net.state_dict()
    assert state["model.0.weight"].shape == (128, 19, 3, 3)
    assert state["model.22.weight"].shape == (48, 128, 3, 3)
    assert isinstance(net.model[23], torch.nn.PixelShuffle)


def test_srmd_output_is_not_clamped() -> None:
    net = SRMD(in_nc=4, nc=4, nb=2, scale=2)
    with torch.no_grad():
        net.model[-2].weight.zero_()
        net.model[-2].bias.fill_(5.0)
        out = net(torch.zeros(1, 4, 3, 3))
    assert out.shape == (1, 3, 6, 6)
    assert torch.equal(out, torch.full_like(out, 5.0))  # no clamp, no skip, no final ReLU


def test_srmd_rejects_too_few_convs() -> None:
    with pytest.raises(InputError, match="nb >= 2"):
        SRMD(nb=1)

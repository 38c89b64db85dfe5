"""A DAN checkpoint fetched by ``bsrbench weights get`` is the method's default weights.

The golden checkpoint is served from a loopback server (127.0.0.1) as if it were the
unpinned release, accepted on first use, then found by the factory without --weights,
hash-checked on load, and refused once it changes.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from bsrbench_dan import bsrbench_methods
from bsrbench_dan.method import build_method
from click.testing import CliRunner
from dan_helpers import load_golden
from releases.loopback import serve

from bsrbench.cli.weights import weights_command
from bsrbench.errors import WeightsError
from bsrbench.specs import BuildContext


def test_dan_uses_the_cached_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path))
    buffer = io.BytesIO()
    torch.save(OrderedDict(load_golden("golden_danv1_x4_s1.pt")["state_dict"]), buffer)
    spec = next(s for s in bsrbench_methods() if s.name == "danv1")
    assert not spec.weights_available(4)
    with serve(buffer.getvalue()) as (url, _):
        res = CliRunner().invoke(weights_command(), ["get", "danv1_x4_setting1", "--url", url,
                                                     "--trust-on-first-use", "--quiet"])
    assert res.exit_code == 0, res.output
    assert spec.weights_available(4) and not spec.weights_available(2)
    ctx = BuildContext(4, "cpu", None, {"setting": 1, "loop": 4})
    assert build_method(ctx, 1).net.cfg.nf == 32
    by_name = BuildContext(4, "cpu", Path("danv1_x4_setting1"), {"setting": 1, "loop": 4})
    assert build_method(by_name, 1).net.cfg.nb == 4
    cached = tmp_path / "weights" / "danv1" / "danv1_x4_setting1.pth"
    cached.write_bytes(cached.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(WeightsError, match=r"has sha256 .*, expected"):
        build_method(ctx, 1)

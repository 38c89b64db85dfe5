"""End to end: folders the real runner writes (a plugin metric among the columns) give a
report with that metric's column, bolded in its declared direction, and every picture."""

from __future__ import annotations

import re
import types

import pytest

from bsrbench import MethodSpec, MetricSpec, Step, hookimpl
from bsrbench.report import render_report
from bsrbench.results import RunLog, load_frame


def _mae(x, y):
    """Mean absolute error per image, 0..255 units (lower is better)."""
    return (x - y).abs().flatten(1).mean(1)


class TwoSteps:
    def run(self, batch):
        from bsrbench.resize import imresize

        up = imresize(batch.lr, batch.scale)
        for i in range(2):
            yield Step(sr=(up * (1 + 0.02 * i)).clamp(0, 1))


def _plugin() -> types.ModuleType:
    mod = types.ModuleType("report_runner_test_plugin")

    @hookimpl
    def bsrbench_methods():
        return [MethodSpec("twostep", "2 steps", "-", "MIT", (4,),
                           factory=lambda ctx: TwoSteps(), iterative=True)]

    @hookimpl
    def bsrbench_metrics():
        return [MetricSpec("mae", "mean absolute error (test metric)", fn=_mae,
                           higher_better=False, unit="")]

    mod.bsrbench_methods, mod.bsrbench_metrics = bsrbench_methods, bsrbench_metrics
    return mod


@pytest.fixture
def run_dir(hr_dir, tmp_path):
    from bsrbench.compose import plan_method
    from bsrbench.datasets import resolve_dataset
    from bsrbench.registry import load_registry
    from bsrbench.runner import RunConfig, run

    reg = load_registry(extra=[_plugin()])
    ds = resolve_dataset(reg, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path / "cache")
    for method in ("bicubic", "twostep"):
        run(RunConfig(plan=plan_method(reg, method, None, {}, 4), dataset=ds,
                      out=tmp_path / "run", quiet=True, save_images=True), reg)
    return tmp_path / "run"


def test_report_of_a_real_run_shows_the_plugin_metric(run_dir):
    frame = load_frame(run_dir / "results.csv")
    assert "mae" in frame and {"weights", "noise_known", "run_id"} <= set(frame.columns)
    fin = frame[frame["is_final"]].groupby("method")[["psnr", "ssim", "mae"]].mean()
    described = {m["name"]: m for m in RunLog(run_dir).runs[-1]["metrics"]}
    assert described["mae"]["higher_better"] is False
    dec = {k: 2 if m["unit"] == "dB" else 4 for k, m in described.items()}
    page = render_report([run_dir])
    head = page[page.index('id="headline"'):page.index('id="sigma"')]
    assert " / MAE ↓; bold" in head
    for method in ("bicubic", "twostep"):
        tr = re.search(rf"<tr><td class=\"name\">{method}</td>(.*?)</tr>", head, re.S).group(1)
        want = [f"{fin.loc[method, c]:.{dec[c]}f}" for c in ("psnr", "ssim", "mae")]
        assert re.sub(r"<[^>]+>", "", tr) == " / ".join(want)
        bold = re.findall(r'<b class="best">([^<]*)</b>', tr)
        best = {"psnr": fin["psnr"].max(), "ssim": fin["ssim"].max(), "mae": fin["mae"].min()}
        assert bold == [w for w, c in zip(want, best) if fin.loc[method, c] == best[c]]
    assert "MAE vs step" in page and "mae ↓" in page[page.index('id="meta"'):]
    srcs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    # 2 HR images x (full HR, HR crop, LR crop, bicubic, twostep final + its 2 steps)
    assert len(srcs) >= 14 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "not stored" not in page  # every picture the runner saved was found

"""Regression gate: bicubic and IKC (bundled weights) on a small Gaussian8 set must not
score worse than the committed baseline ``results/baselines/regression/results.csv``.

Refresh the baseline on purpose (after a deliberate change of weights or protocol) with::

    python tests/test_regression.py --refresh

and commit the new CSV with a message saying why the numbers moved.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "results" / "baselines" / "regression" / "results.csv"
# Two embedded photographs, centre 96x96 crops: 16 LR images at x4, seconds on a CPU.
IMAGES, CROP = 2, 96
ARGS = ["-m", "bicubic,ikc", "-d", "gaussian8", "--scale", "4", "-O", "steps=7",
        "--device", "cpu", "-q"]


def make_hr(folder: Path) -> Path:
    """Write the regression HR set into ``folder/regression`` (the dataset label)."""
    from bsrbench.images import embedded_images, write_png

    hr = folder / "regression"
    for im in embedded_images(crop=CROP)[:IMAGES]:
        write_png(hr / f"{im.name}.png", im.pixels)
    return hr


def run_suite(workdir: Path) -> Path:
    """Run the suite into ``workdir/run`` and return its results.csv."""
    from click.testing import CliRunner

    from bsrbench.cli import main

    hr = make_hr(workdir)
    out = workdir / "run"
    res = CliRunner().invoke(main, ["run", *ARGS, "--hr", str(hr), "--out", str(out),
                                    "--cache-dir", str(workdir / "cache")])
    if res.exit_code != 0:
        raise RuntimeError(f"regression run failed:\n{res.output}")
    return out / "results.csv"


def test_regression_suite_matches_baseline(tmp_path):
    from click.testing import CliRunner

    from bsrbench.cli import main

    assert BASELINE.is_file(), "no baseline: run `python tests/test_regression.py --refresh`"
    new = run_suite(tmp_path)
    res = CliRunner().invoke(main, ["compare", str(BASELINE), str(new)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("score", "move"), [("psnr", -0.1), ("code_l2", +0.01)])
def test_regression_gate_catches_a_degraded_run(tmp_path, score, move):
    """The gate is only useful if it fails: degrade one IKC row (0.1 dB less PSNR, or a
    code L2 0.01 larger: lower is better there)."""
    import csv

    from click.testing import CliRunner

    from bsrbench.cli import main

    rows = list(csv.DictReader(BASELINE.open()))
    target = next(r for r in rows if r["method"] == "ikc" and r["is_final"] == "True")
    target[score] = str(float(target[score]) + move)
    worse = tmp_path / "worse.csv"
    with worse.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    res = CliRunner().invoke(main, ["compare", str(BASELINE), str(worse)])
    assert res.exit_code == 1 and target["image"] in res.output


if __name__ == "__main__":
    import shutil
    import tempfile

    if sys.argv[1:] != ["--refresh"]:
        sys.exit("usage: python tests/test_regression.py --refresh")
    with tempfile.TemporaryDirectory() as tmp:
        new = run_suite(Path(tmp))
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(new, BASELINE)
    print(f"baseline written: {BASELINE}")

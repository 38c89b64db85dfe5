"""The regression gate: matching rows, tolerances at the boundary, missing rows, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bsrbench.compare import compare, format_comparison
from bsrbench.errors import InputError
from bsrbench.results import COLUMNS, ResultsFile, read_results


def _rows() -> list[dict]:
    """Two methods x two images x two kernels; 'iter' has two steps."""
    rows = []
    for method, steps in (("bicubic", 1), ("iter", 2)):
        for image in ("baby", "bird"):
            for k in range(2):
                for step in range(steps):
                    rows.append({
                        "method": method, "model": method, "estimator": "",
                        "upper_bound": False, "dataset": "gaussian8/Set5",
                        "downsampler": "matlab-bicubic", "scale": 4, "image": image,
                        "kernel_index": k, "sigma": 1.8 + 0.2 * k, "step": step,
                        "is_final": step == steps - 1, "psnr": 30.0 + step + k,
                        "ssim": 0.8, "seconds": 0.1, "convention": "matlab-y",
                    })
    return rows


def _write(folder: Path, rows: list[dict]) -> Path:
    ResultsFile(folder / "results.csv").append(rows)
    return folder


def _cli() -> click.Group:
    from bsrbench.cli.report import register

    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


def _invoke(*args: str | Path):
    return CliRunner().invoke(_cli(), ["compare", *map(str, args)])


def test_compare_identical_runs_pass(tmp_path):
    base = _write(tmp_path / "a", _rows())
    new = _write(tmp_path / "b", _rows())
    result = compare(base, new / "results.csv")  # a run dir and a csv both work
    assert result.ok and result.matched == len(_rows())
    assert not (result.regressions or result.improvements or result.missing or result.added)
    out = _invoke(base, new)
    assert out.exit_code == 0 and "OK: no regression in 12 matched rows" in out.output


def test_compare_degraded_copy_fails_and_lists_rows(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    for r in rows:
        if r["image"] == "bird" and r["method"] == "bicubic":
            r["psnr"] -= 0.1
    removed = rows.pop(5)  # iter, baby, kernel 0, step 1
    new = _write(tmp_path / "b", rows)
    result = compare(base, new)
    assert not result.ok
    assert sorted(c.key[3:5] for c in result.regressions) == [("bird", 0), ("bird", 1)]
    assert all(c.psnr_delta == pytest.approx(-0.1) for c in result.regressions)
    assert result.missing == [("iter", "gaussian8/Set5", 4, "baby", 0, 1)]
    assert removed["method"] == "iter" and removed["step"] == 1
    out = _invoke(base, new)
    assert out.exit_code == 1
    text = out.output
    assert "worse (2):" in text and "missing in new (1):" in text
    assert text.count("bird") >= 2 and "-0.10" in text and "30.00 -> 29.90" in text
    assert text.rstrip().splitlines()[-1].startswith("FAIL: 2 rows worse, 1 row missing")


def test_compare_reports_improvements_and_new_rows_without_failing(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[0]["psnr"] += 0.5
    rows[1]["ssim"] += 0.01
    rows.append({**rows[0], "image": "butterfly"})
    result = compare(base, _write(tmp_path / "b", rows))
    assert result.ok
    assert [c.key[3:5] for c in result.improvements] == [("baby", 0), ("baby", 1)]
    assert result.improvements[0].psnr_delta == pytest.approx(0.5)
    assert result.added == [("bicubic", "gaussian8/Set5", 4, "butterfly", 0, 0)]
    text = format_comparison(result)
    assert "better (2):" in text and "only in new (1):" in text and "+0.50" in text
    assert text.splitlines()[-1] == "OK: no regression in 12 matched rows (2 better, 1 new)"


@pytest.mark.parametrize(("psnr_drop", "ssim_drop", "ok"), [
    (0.05, 0.0, True),  # exactly the tolerance passes
    (0.0501, 0.0, False),
    (0.0, 0.001, True),
    (0.0, 0.0011, False),
])
def test_compare_tolerances_at_the_boundary(tmp_path, psnr_drop, ssim_drop, ok):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[3]["psnr"] = round(rows[3]["psnr"] - psnr_drop, 6)
    rows[3]["ssim"] = round(rows[3]["ssim"] - ssim_drop, 6)
    new = _write(tmp_path / "b", rows)
    assert compare(base, new).ok is ok
    assert _invoke(base, new).exit_code == (0 if ok else 1)


def test_compare_custom_tolerances(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[0]["psnr"] -= 0.2
    new = _write(tmp_path / "b", rows)
    assert _invoke(base, new).exit_code == 1
    assert _invoke(base, new, "--max-psnr-drop", "0.25").exit_code == 0


def test_compare_a_new_error_is_a_regression(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[2].update(psnr=None, ssim=None, error="RuntimeError: boom")
    result = compare(base, _write(tmp_path / "b", rows))
    assert not result.ok and len(result.regressions) == 1
    assert "RuntimeError: boom" in format_comparison(result)
    # the other way round, a fixed row is an improvement
    back = compare(tmp_path / "b", base)
    assert back.ok and len(back.improvements) == 1


def test_compare_notes_different_conventions(tmp_path):
    base = _write(tmp_path / "a", _rows())
    new = _write(tmp_path / "b", [{**r, "convention": "rgb"} for r in _rows()])
    assert "conventions differ" in format_comparison(compare(base, new))


def test_compare_reads_a_real_results_file_with_numpy_reprs(tmp_path):
    base = _write(tmp_path / "a", _rows())
    text = (base / "results.csv").read_text().replace(",4,baby,", ",np.int64(4),baby,")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.csv").write_text(text)
    assert compare(base, tmp_path / "b").ok
    assert len(read_results(base / "results.csv")) == 12


def test_compare_bad_input_is_one_line_exit_2(tmp_path):
    good = _write(tmp_path / "a", _rows())
    with pytest.raises(InputError, match="not found"):
        compare(tmp_path / "nope", good)
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows([["method", "psnr"], ["x", "1"]])
    with pytest.raises(InputError, match="no column dataset, scale"):
        compare(good, bad)
    for args in ((tmp_path / "nope", good), (good, bad), (good, tmp_path)):
        out = _invoke(*args)
        assert out.exit_code == 2, out.output
        assert out.output.startswith("error: ") and out.output.count("\n") == 1
    assert set(COLUMNS) >= {"method", "step", "psnr", "ssim", "error"}

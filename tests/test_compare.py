"""The regression gate: every score judged in its direction, tolerances at the boundary,
improvements listed (failing only with --strict), weights/options/convention warnings,
filters, invalid rows, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bsrbench.cli.compare import format_comparison
from bsrbench.compare import compare, parse_tolerances
from bsrbench.errors import InputError
from bsrbench.results import ResultsFile, RunLog

LPIPS = {"name": "lpips", "higher_better": False, "unit": ""}
BUILTIN = [{"name": "psnr", "higher_better": True, "unit": "dB"},
           {"name": "ssim", "higher_better": True, "unit": ""}]


def _rows(run: str = "r1") -> list[dict]:
    """Two methods x two images x two kernels; 'iter' has two steps and kernel scores."""
    rows = []
    for method, steps in (("bicubic", 1), ("iter", 2)):
        for image in ("baby", "bird"):
            for k in range(2):
                for step in range(steps):
                    rows.append({
                        "method": method, "model": method, "estimator": "",
                        "weights": "none" if method == "bicubic" else "bundled",
                        "upper_bound": False, "noise_known": False,
                        "dataset": "gaussian8/Set5", "downsampler": "matlab-bicubic",
                        "scale": 4, "image": image, "kernel_index": k, "sigma": 1.8 + 0.2 * k,
                        "step": step, "is_final": step == steps - 1,
                        "psnr": 30.0 + step + k, "ssim": 0.8, "lpips": 0.25,
                        "kernel_psnr": 45.0 + step if method == "iter" else None,
                        "code_l2": 0.04 - 0.01 * step if method == "iter" else None,
                        "seconds": 0.1, "convention": "matlab-y", "run_id": f"{run}-{method}",
                    })
    return rows


def _write(folder: Path, rows: list[dict], metrics: list[dict] | None = None,
           options: dict | None = None, run: str = "r1",
           columns: tuple[str, ...] = ()) -> Path:
    """results.csv and run.json (one entry per method) as a run writes them. ``metrics``
    is run.json's list (``None``: an older run.json without one); ``columns`` the metric
    columns when they are not the described ones."""
    described = [*BUILTIN, LPIPS] if metrics is None else metrics
    names = columns or tuple(m["name"] for m in described)
    ResultsFile(folder / "results.csv", metrics=names).append(rows)
    for method in dict.fromkeys(r["method"] for r in rows):
        meta = {"run_id": f"{run}-{method}", "method": method,
                "options": (options or {}).get(method, {}), "convention": "matlab-y",
                "dataset": {"label": "gaussian8/Set5", "scale": 4}}
        if metrics != []:
            meta["metrics"] = described
        RunLog(folder).record(meta)
    return folder


def _cli() -> click.Group:
    from bsrbench.cli.compare import register

    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


def _invoke(*args: str | Path):
    return CliRunner().invoke(_cli(), ["compare", *map(str, args)])


def test_compare_identical_runs_pass(tmp_path):
    base = _write(tmp_path / "a", _rows())
    new = _write(tmp_path / "b", _rows("r2"))
    result = compare(base, new / "results.csv")  # a run dir and a csv both work
    assert result.ok and result.matched == len(_rows())
    assert not (result.regressions or result.improvements or result.missing or result.added
                or result.warnings)
    assert [(s.name, s.higher_better) for s in result.scores] == [
        ("psnr", True), ("ssim", True), ("lpips", False), ("kernel_psnr", True),
        ("code_l2", False)]
    out = _invoke(base, new)
    assert out.exit_code == 0, out.output
    assert out.output.rstrip().endswith("OK: no regression in 12 matched rows (0 better, 0 new)")
    assert "lpips (lower better, +-0.001)" in out.output
    assert _invoke(base, new, "--strict").exit_code == 0


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
    assert all(c.move("psnr").delta == pytest.approx(-0.1) for c in result.regressions)
    assert result.missing == [("iter", "gaussian8/Set5", 4, "baby", 0, 1)]
    assert removed["method"] == "iter" and removed["step"] == 1
    out = _invoke(base, new)
    assert out.exit_code == 1
    text = out.output
    assert "worse (2 rows):" in text and "missing in new (1 row):" in text
    assert "30.00 -> 29.90" in text and "-0.10" in text
    assert text.rstrip().splitlines()[-1].startswith("FAIL: 2 rows worse, 1 row missing")


@pytest.mark.parametrize(("column", "move", "verdict"), [
    ("psnr", -0.05, None),  # exactly the tolerance passes
    ("psnr", -0.0501, "worse"),
    ("psnr", +0.0501, "better"),
    ("ssim", -0.001, None),
    ("ssim", -0.0011, "worse"),
    ("kernel_psnr", -0.1, None),  # higher is better
    ("kernel_psnr", -0.1001, "worse"),
    ("kernel_psnr", +0.2, "better"),
    ("code_l2", +0.001, None),  # lower is better
    ("code_l2", +0.0011, "worse"),
    ("code_l2", -0.0011, "better"),
    ("lpips", +0.0011, "worse"),  # a lower-better plugin metric, direction from run.json
    ("lpips", -0.0011, "better"),
])
def test_compare_judges_each_score_in_its_direction(tmp_path, column, move, verdict):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    target = rows[5]  # iter, baby, kernel 0, step 1: every score has a value
    target[column] = round(target[column] + move, 6)
    new = _write(tmp_path / "b", rows)
    result = compare(base, new)
    worse = [c.key for c in result.regressions]
    better = [c.key for c in result.improvements]
    key = ("iter", "gaussian8/Set5", 4, "baby", 0, 1)
    assert (worse, better) == {None: ([], []), "worse": ([key], []),
                               "better": ([], [key])}[verdict]
    assert result.ok is (verdict != "worse")
    assert _invoke(base, new).exit_code == (1 if verdict == "worse" else 0)
    assert _invoke(base, new, "--strict").exit_code == (0 if verdict is None else 1)


def test_compare_lists_improvements_and_new_rows_and_strict_fails_on_them(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[0]["psnr"] += 0.5
    rows[1]["lpips"] -= 0.005  # 5 tolerances: listed after the 10-tolerance PSNR gain
    rows.append({**rows[0], "image": "butterfly"})
    new = _write(tmp_path / "b", rows)
    result = compare(base, new)
    assert result.ok
    assert [c.key[3:5] for c in result.improvements] == [("baby", 0), ("baby", 1)]
    assert result.improvements[0].move("psnr").gain == pytest.approx(0.5)
    assert result.improvements[1].move("lpips").gain == pytest.approx(0.005)
    assert result.added == [("bicubic", "gaussian8/Set5", 4, "butterfly", 0, 0)]
    text = format_comparison(result)
    assert "better (2 rows; a sudden gain can be a leak: check it):" in text
    assert "only in new (1 row):" in text and "+0.50" in text
    assert text.splitlines()[-1] == "OK: no regression in 12 matched rows (2 better, 1 new)"
    strict = compare(base, new, strict=True)
    assert not strict.ok
    out = _invoke(base, new, "--strict")
    assert out.exit_code == 1
    assert out.output.rstrip().splitlines()[-1] == (
        "FAIL: 2 rows better (strict), 1 row new (strict)")


def test_compare_tolerance_options(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[0]["psnr"] -= 0.2
    rows[5]["code_l2"] += 0.005
    new = _write(tmp_path / "b", rows)
    assert _invoke(base, new).exit_code == 1
    assert _invoke(base, new, "--max-psnr-drop", "0.25").exit_code == 1  # code_l2 still
    ok = _invoke(base, new, "--max-psnr-drop", "0.25", "--tolerance", "code_l2=0.006")
    assert ok.exit_code == 0, ok.output
    assert "code_l2 (lower better, +-0.006)" in ok.output
    assert _invoke(base, new, "--tolerance", "psnr=0.25", "--tolerance",
                   "code_l2=0.01").exit_code == 0
    assert parse_tolerances(["lpips=0.01", " ssim = 0"]) == {"lpips": 0.01, "ssim": 0.0}
    for bad in ("psnr", "psnr=-1", "psnr=abc", "=1", "psnr=inf"):
        with pytest.raises(InputError, match="NAME=VALUE"):
            parse_tolerances([bad])
    for args in (("--tolerance", "psnr=x"), ("--tolerance", "pnsr=0.1"),
                 ("--max-psnr-drop", "0.1", "--tolerance", "psnr=0.2")):
        out = _invoke(base, new, *args)
        assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert "did you mean 'psnr'" in _invoke(base, new, "--tolerance", "pnsr=0.1").output


def test_compare_warns_when_matched_rows_differ_in_weights_options_convention(tmp_path):
    base = _write(tmp_path / "a", _rows(), options={"iter": {"iter": {"iterations": 7}}})
    rows = _rows()
    for r in rows:
        if r["method"] == "iter":
            r["weights"] = "file:0123abcd"
        if r["method"] == "bicubic":
            r["convention"] = "rgb"
    new = _write(tmp_path / "b", rows, options={"iter": {"iter": {"iterations": 3}}})
    result = compare(base, new)
    assert result.ok  # same numbers: warned, not failed
    text = format_comparison(result)
    assert ("warning: iter on gaussian8/Set5 x4: weights differ (baseline bundled; new "
            "file:0123abcd)") in text
    assert "options differ (baseline iter.iterations=7; new iter.iterations=3)" in text
    assert "bicubic on gaussian8/Set5 x4: convention differ (baseline matlab-y; new rgb)" \
        in text
    assert "iter [bundled -> file:0123abcd]" in text  # the means label names both weights
    assert not any("bicubic" in w and "weights" in w for w in result.warnings)


def test_compare_without_known_options_does_not_warn_about_them(tmp_path):
    """A run.json rebuilt by ``repair`` knows no options: nothing to warn about."""
    from bsrbench.results import repair

    base = tmp_path / "a"
    ResultsFile(base / "results.csv", metrics=("psnr", "ssim", "lpips")).append(_rows())
    repair(base)
    new = _write(tmp_path / "b", _rows(), options={"iter": {"iter": {"iterations": 3}}})
    result = compare(base, new)
    assert result.ok and not [w for w in result.warnings if "options" in w]
    # the new run's entry is found by run id; a differing one is warned about
    other = _write(tmp_path / "c", _rows(), options={"iter": {"iter": {"iterations": 7}}})
    assert [w for w in compare(other, new).warnings if "options" in w] == [
        "iter on gaussian8/Set5 x4: options differ (baseline iter.iterations=7; new "
        "iter.iterations=3): matched rows are not the same method"]


def test_compare_older_baseline_without_weights_is_noted(tmp_path):
    base = _write(tmp_path / "a", _rows())
    path = base / "results.csv"
    with path.open(newline="") as f:
        table = [row[:3] + row[4:] for row in csv.reader(f)]  # drop "weights"
    assert table[0][:4] == ["method", "model", "estimator", "upper_bound"]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(table)
    result = compare(base, _write(tmp_path / "b", _rows()))
    assert result.ok and result.warnings == [
        "the baseline records no weights (older results): which weights made its rows is "
        "not checked"]


def test_compare_means_take_each_final_step_and_warn_when_it_moved(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = [{**r, "is_final": True} for r in _rows() if r["step"] == 0]  # iter: one step
    result = compare(base, _write(tmp_path / "b", rows))
    assert len(result.missing) == 4 and not result.ok
    assert ("iter on gaussian8/Set5 x4: final step differs (baseline 1; new 0): the "
            "final-step means compare different steps") in result.warnings
    means = {(m.group[0], m.score.name): (m.old, m.new, m.count) for m in result.means}
    assert means[("iter", "psnr")] == (pytest.approx(31.5), pytest.approx(30.5), 4)
    assert means[("iter", "code_l2")] == (pytest.approx(0.03), pytest.approx(0.04), 4)
    assert means[("bicubic", "psnr")] == (pytest.approx(30.5), pytest.approx(30.5), 4)
    assert ("bicubic", "kernel_psnr") not in means  # no value to average


def test_compare_lost_scores_fail(tmp_path):
    niqe = {"name": "niqe", "higher_better": False, "unit": ""}
    base = _write(tmp_path / "a", [{**r, "niqe": 5.0} for r in _rows()],
                  metrics=[*BUILTIN, LPIPS, niqe])
    new = _write(tmp_path / "b", _rows())
    result = compare(base, new)
    assert result.lost_scores == ["niqe"] and not result.ok
    assert not result.regressions and not result.improvements
    out = _invoke(base, new)
    assert out.exit_code == 1 and "FAIL: 1 score lost" in out.output
    assert "lost score: niqe is in the baseline but not in the new results" in out.output
    # the other way round the column is only in the new results: noted, not compared
    back = compare(new, base)
    assert back.ok and "niqe is only in the new results: not compared" in back.warnings


def test_compare_directions_from_either_run_json_then_fixed_then_assumed(tmp_path):
    rows = [{**r, "lpips": 0.24} for r in _rows()]
    # lpips is described by the baseline's run.json only: its direction holds for both
    base = _write(tmp_path / "a", _rows())
    new = _write(tmp_path / "b", rows, metrics=BUILTIN, columns=("psnr", "ssim", "lpips"))
    result = compare(base, new)
    assert len(result.improvements) == 12 and not result.warnings
    assert all(c.move("lpips").gain == pytest.approx(0.01) for c in result.improvements)
    # run.json without "metrics" (older runs): psnr/ssim higher-better, others assumed
    cols = ("psnr", "ssim", "lpips")
    older = compare(_write(tmp_path / "c", _rows(), metrics=[], columns=cols),
                    _write(tmp_path / "d", rows, metrics=[], columns=cols))
    assert older.warnings == ["no run.json describes column lpips: compared as higher-better"]
    assert len(older.regressions) == 12  # 0.25 -> 0.24 taken as a drop
    assert [s.name for s in older.scores if s.assumed] == ["lpips"]
    assert "lpips (higher better, assumed, +-0.001)" in format_comparison(older)


def test_compare_direction_conflict_is_not_compared(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = [{**r, "lpips": 0.3} for r in _rows()]
    new = _write(tmp_path / "b", rows, metrics=[*BUILTIN, {**LPIPS, "higher_better": True}])
    result = compare(base, new)
    assert "lpips" not in [s.name for s in result.scores] and result.ok
    assert any("lpips is higher-better in one run.json" in w for w in result.warnings)


def test_compare_filters_by_method_and_dataset(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    for r in rows:
        if r["method"] == "bicubic":
            r["psnr"] -= 1
    new = _write(tmp_path / "b", rows)
    assert not compare(base, new).ok
    only_iter = compare(base, new, methods=["it*"])
    assert only_iter.ok and only_iter.matched == 8
    assert _invoke(base, new, "--method", "iter").exit_code == 0
    assert _invoke(base, new, "--method", "iter,bic*").exit_code == 1
    assert _invoke(base, new, "--dataset", "gaussian8/*", "--method", "iter").exit_code == 0
    out = _invoke(base, new, "--dataset", "bsd*")
    assert out.exit_code == 2 and "no rows match" in out.output


def test_compare_new_error_is_a_regression_fixed_error_an_improvement(tmp_path):
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    rows[2].update(psnr=None, ssim=None, lpips=None, error="RuntimeError: boom")
    result = compare(base, _write(tmp_path / "b", rows))
    assert not result.ok and len(result.regressions) == 1
    assert "RuntimeError: boom" in format_comparison(result)
    back = compare(tmp_path / "b", base)
    assert back.ok and len(back.improvements) == 1
    assert "fixed: RuntimeError: boom" in format_comparison(back)


def test_compare_reports_invalid_rows_and_never_averages_them(tmp_path):
    base = _write(tmp_path / "a", _rows())
    new = _write(tmp_path / "b", _rows())
    path = new / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",30.0,", ",garbage,")  # bicubic baby k0 step 0
    path.write_text("".join(lines))
    result = compare(base, new)
    assert [(r.line, r.key[3]) for r in result.invalid["new"]] == [(2, "baby")]
    assert "psnr" in result.invalid["new"][0].reason
    assert result.missing == [("bicubic", "gaussian8/Set5", 4, "baby", 0, 0)]
    bicubic = next(m for m in result.means
                   if m.group[0] == "bicubic" and m.score.name == "psnr")
    assert bicubic.count == 3 and bicubic.new == pytest.approx((31 + 30 + 31) / 3)
    text = format_comparison(result)
    assert "invalid in new (1 row; not compared, not averaged):" in text


def test_compare_reads_the_rows_that_stand(tmp_path):
    """A later run's rows supersede an earlier run's errors and invalid rows."""
    base = _write(tmp_path / "a", _rows())
    rows = _rows()
    failed = [{**r, "psnr": None, "ssim": None, "error": "boom", "run_id": "r0-bicubic"}
              for r in rows if r["method"] == "bicubic"]
    failed[0].update(psnr="garbage", error="")
    new = tmp_path / "b"
    ResultsFile(new / "results.csv", metrics=("psnr", "ssim", "lpips")).append(failed)
    first = compare(base, new)
    assert len(first.invalid["new"]) == 1 and len(first.missing) == 9
    assert len(first.regressions) == 3  # the other bicubic rows: new errors
    _write(new, rows, run="r1")
    result = compare(base, new)
    assert result.ok and result.invalid["new"] == [] and result.matched == 12


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

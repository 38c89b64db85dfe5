"""The HTML report: numbers match results.csv, oracle and upper bounds are labelled, the page
is self-contained and rebuilds identically (run folders from report_helpers.scenario)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from report_helpers import row as result_row

from bsrbench.errors import InputError
from bsrbench.report import render_report, write_report
from bsrbench.results import read_table


@pytest.fixture(scope="module")
def page(runs) -> str:
    return render_report([runs["bic"], runs["iter"]])


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    nxt = page.find("<h2", start)
    return page[start:nxt if nxt > 0 else None]


def _row(html: str, label: str) -> str:
    """The first table row whose first cell starts with ``label``."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S):
        first = re.search(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if first and re.sub(r"<[^>]+>", "", first.group(1)).startswith(label):
            return row
    raise AssertionError(f"no row {label!r}")


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


def _rows(*folders: Path) -> list[dict[str, str]]:
    return [r for f in folders for r in read_table(f / "results.csv").current()]


def _final_mean(rows, method, col, **where) -> float:
    vals = [float(r[col]) for r in rows if r["method"] == method and r["is_final"] == "True"
            and not r["error"] and all(str(r[k]) == str(v) for k, v in where.items())]
    return sum(vals) / len(vals)


def test_report_headline_numbers_match_results(runs, page):
    rows = _rows(runs["bic"], runs["iter"])
    headline = _section(page, "headline")
    assert "gaussian8/hr" in headline and "×4" in headline
    for method in ("bicubic", "iterk", "sharpk+oracle"):
        cells = _cells(_row(headline, method))
        want = f"{_final_mean(rows, method, 'psnr'):.2f} / {_final_mean(rows, method, 'ssim'):.4f}"
        assert cells[1] == want
    # the best blind PSNR is bold; the upper bound is labelled, grouped apart and never bold
    best = max(("bicubic", "iterk"), key=lambda m: _final_mean(rows, m, "psnr"))
    assert '<b class="best">' in _row(headline, best)
    ub_row = _row(headline, "sharpk+oracle")
    assert "upper bound" in ub_row and "<b" not in ub_row
    assert headline.index("upper bound (ground-truth kernel)") < headline.index(ub_row)


def test_report_gaussian8_table_has_one_column_per_sigma(runs, page):
    rows = _rows(runs["bic"])
    section = _section(page, "sigma")
    for sigma in (1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2):
        assert f"σ = {sigma:.2f}" in section
    cells = _cells(_row(section, "bicubic"))
    assert len(cells) == 9
    for k in range(8):
        assert cells[1 + k] == f"{_final_mean(rows, 'bicubic', 'psnr', kernel_index=k):.2f}"


def test_report_plots_iterative_methods_as_svg(page):
    plots = _section(page, "plots")
    svgs = re.findall(r"<svg class=\"plot\".*?</svg>", plots, flags=re.S)
    assert len(svgs) == 4  # every metric (PSNR, SSIM), kernel PSNR and code L2 vs the step
    for title in ("PSNR vs step", "SSIM vs step", "Kernel PSNR vs step",
                  "Kernel code L2 error vs step"):
        assert title in plots
    for svg in svgs:
        assert "<polyline" in svg and ">step</text>" in svg and "iterk · gaussian8/hr ×4" in svg
    assert "bicubic" not in plots  # one-shot methods are not plotted


def test_report_labels_the_oracle_best_step(page):
    steps = _section(page, "steps")
    oracle = re.findall(r'<tr class="oracle">(.*?)</tr>', steps, flags=re.S)
    assert len(oracle) == 1  # only the iterative method has one
    assert "oracle best step per image (chosen with the ground truth, not a result)" in oracle[0]
    assert '<td class="step num">2<span class="badge final">final</span>' in steps
    assert "upper bound" in _row(steps, "sharpk+oracle")


def test_report_pictures_are_data_uris_of_pngs(page):
    srcs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    # 2 images x (HR + HR crop + LR crop + 3 final SRs + 3 iterk steps) + kernels
    assert len(srcs) >= 2 * 9 + 2 * (1 + 3 + 1)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    vis = _section(page, "images")
    assert "colour" in vis and "grey" in vis and "LR ×4 (nearest)" in vis
    assert 'class="box"' in vis  # the crop rectangle
    assert "ground truth" in _section(page, "kernels")


def test_report_has_no_external_reference(page):
    assert "http" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "url(" not in page and "@import" not in page and "<script" not in page
    assert "<link" not in page


def test_report_run_metadata_is_shown(runs, page):
    meta = _section(page, "meta")
    entry = json.loads((runs["bic"] / "run.json").read_text())["runs"][-1]
    for value in (entry["torch_version"], entry["dataset"]["content_hash"], "matlab-bicubic",
                  "matlab-y", "bsrbench run -m bicubic (test)", "bundled", "cpu"):
        assert value in meta
    if entry["git_commit"]:
        assert entry["git_commit"] in meta


def test_report_rebuilds_identically(runs, tmp_path):
    a = write_report([runs["bic"], runs["iter"]], tmp_path / "a.html")
    b = write_report([runs["bic"], runs["iter"]], tmp_path / "sub" / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_report_escapes_text_and_lists_failures(make_run):
    run = make_run("r", [
        result_row(dataset="bicubic", image="ok", psnr=30.0, ssim=0.9, sigma=0.0),
        result_row(dataset="bicubic", image="<b>a&b</b>", psnr=None, ssim=None, sigma=0.0,
            error="RuntimeError: <oops> & more"),
    ])
    page = render_report([run])
    failures = _section(page, "failures")
    assert "1 LR images failed" in failures
    assert "&lt;b&gt;a&amp;b&lt;/b&gt;" in failures
    assert "RuntimeError: &lt;oops&gt; &amp; more" in failures
    assert "<b>a&b</b>" not in page and "<oops>" not in page
    cell = _cells(_row(_section(page, "headline"), "bicubic"))[1]
    assert cell == "30.00 / 0.9000*"  # the star: a failed LR image is left out of the mean
    # no run.json, no pictures, no iterative method, no blur: each said plainly
    assert "No run.json" in page and "--save-images" in _section(page, "images")
    assert "No iterative method" in page and 'id="sigma"' not in page


def test_report_rejects_a_missing_run_dir(tmp_path):
    with pytest.raises(InputError, match="not found"):
        write_report([tmp_path / "nope"], tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no results\.csv"):
        write_report([tmp_path / "empty"], tmp_path / "r.html")


def _cli() -> click.Group:
    from bsrbench.cli.report import register

    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


def test_report_cli_writes_into_the_run_dir(runs, tmp_path):
    result = CliRunner().invoke(_cli(), ["report", str(runs["bic"]), "--images", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(runs["bic"] / "report.html")
    assert "bsrbench report" in (runs["bic"] / "report.html").read_text()
    out = tmp_path / "both.html"
    result = CliRunner().invoke(_cli(), ["report", str(runs["bic"]), str(runs["iter"]),
                                         "--out", str(out)])
    assert result.exit_code == 0 and out.is_file()


def test_report_cli_bad_dir_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(_cli(), ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")

"""Every metric column reaches the report's tables, and each is bolded in its own
direction: read from run.json's ``metrics`` list, PSNR/SSIM higher-better only as the
fallback for older files, never guessed for a column nobody describes."""

from __future__ import annotations

import re

from report_helpers import BUILTIN, meta, row

from bsrbench.report import render_report

LPIPS = {"name": "lpips", "higher_better": False, "unit": "", "summary": "lower is better"}


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    nxt = page.find("<h2", start)
    return page[start:nxt if nxt > 0 else None]


def _row(html: str, label: str) -> str:
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S):
        first = re.search(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        if first and re.sub(r"<[^>]+>", "", first.group(1)) == label:
            return tr
    raise AssertionError(f"no row {label!r}")


def _bold(tr: str) -> list[str]:
    return re.findall(r'<b class="best">([^<]*)</b>', tr)


def _two_methods(make_run, entries, metrics=("psnr", "ssim", "lpips"), **extra):
    """``a`` better in PSNR/SSIM, ``b`` better (lower) in LPIPS; two LR images each."""
    rows = []
    for image, shift in (("x", 0.0), ("y", 0.2)):
        rows.append(row(method="a", image=image, psnr=30.0 + shift, ssim=0.90, lpips=0.30,
                        **extra.get("a", {})))
        rows.append(row(method="b", image=image, psnr=29.0 + shift, ssim=0.85, lpips=0.10,
                        **extra.get("b", {})))
    return make_run("r", rows, entries, metrics=metrics)


def test_report_plugin_metric_lower_better_bolds_the_minimum(make_run):
    run = _two_methods(make_run, [meta("a", metrics=(*BUILTIN, LPIPS))])
    page = render_report([run])
    head = _section(page, "headline")
    # cells: PSNR / SSIM / LPIPS, each bold where best in its own direction
    assert re.sub(r"<[^>]+>", "", _row(head, "a")).endswith("30.10 / 0.9000 / 0.3000")
    assert _bold(_row(head, "a")) == ["30.10", "0.9000"]
    assert _bold(_row(head, "b")) == ["0.1000"]
    assert "PSNR (dB) ↑ / SSIM ↑ / LPIPS ↓" in head
    # the per-kernel table has an LPIPS table, bolding the minimum
    sigma = _section(page, "sigma")
    lp = sigma[sigma.index("LPIPS ↓"):]
    assert _bold(_row(lp, "b")) == ["0.1000"] and _bold(_row(lp, "a")) == []
    # the per-step table shows the column with its direction, kernel scores beside it
    steps = _section(page, "steps")
    for heading in ("LPIPS ↓", "kernel PSNR (dB) ↑", "code L2 ↓"):
        assert f"<th>{heading}</th>" in steps
    assert "Metrics: PSNR (higher is better); SSIM (higher is better); LPIPS (lower is better)." \
        in page
    assert "lpips ↓" in _section(page, "meta")  # run.json's declaration, shown as recorded


def test_report_higher_better_comes_from_run_json_not_the_name(make_run):
    # a run that declares PSNR lower-better (absurd, but it is what the file says) is obeyed
    flipped = [{**BUILTIN[0], "higher_better": False}, BUILTIN[1], LPIPS]
    page = render_report([_two_methods(make_run, [meta("a", metrics=flipped)])])
    head = _section(page, "headline")
    assert _bold(_row(head, "b")) == ["29.10", "0.1000"]
    assert "PSNR (dB) ↓" in head


def test_report_old_run_json_falls_back_for_psnr_ssim_only(make_run):
    # no "metrics" in run.json: PSNR and SSIM higher-better, lpips undescribed -> not bold
    page = render_report([_two_methods(make_run, [meta("a", metrics=None)])])
    head = _section(page, "headline")
    assert _bold(_row(head, "a")) == ["30.10", "0.9000"]
    assert _bold(_row(head, "b")) == []
    assert "SSIM ↑ / LPIPS;" in head  # no arrow: nobody said which way
    assert "No run declares which way LPIPS is better" in head
    assert "LPIPS (direction unknown: never bolded)" in page


def test_report_without_run_json_still_bolds_psnr(make_run):
    page = render_report([_two_methods(make_run, [], metrics=("psnr", "ssim"))])
    head = _section(page, "headline")
    assert _bold(_row(head, "a")) == ["30.10", "0.9000"]
    assert "No run.json: provenance unknown." in _section(page, "meta")


def test_report_runs_that_disagree_on_a_direction_bold_neither(tmp_path):
    from report_helpers import write_run

    one = write_run(tmp_path / "one", [row(method="a", image="x", psnr=30.0, ssim=0.9,
                                           lpips=0.3)],
                    [meta("a", metrics=(*BUILTIN, LPIPS))], metrics=("psnr", "ssim", "lpips"))
    other = {**LPIPS, "higher_better": True}
    two = write_run(tmp_path / "two", [row(method="b", image="x", psnr=29.0, ssim=0.8,
                                           lpips=0.1)],
                    [meta("b", metrics=(*BUILTIN, other))], metrics=("psnr", "ssim", "lpips"))
    head = _section(render_report([one, two]), "headline")
    assert _bold(_row(head, "a")) == ["30.00", "0.9000"] and _bold(_row(head, "b")) == []


def test_report_text_column_is_not_a_metric(make_run):
    rows = [row(method="a", image="x", psnr=30.0, ssim=0.9, notes="checked by hand"),
            row(method="b", image="x", psnr=29.0, ssim=0.8, notes="")]
    page = render_report([make_run("r", rows, [meta("a")], metrics=("psnr", "ssim", "notes"))])
    assert "NOTES" not in page
    assert re.sub(r"<[^>]+>", "", _row(_section(page, "headline"), "a")) == "a30.00 / 0.9000"


def test_report_decimals_follow_the_unit(make_run):
    ms = [*BUILTIN, {"name": "fid", "higher_better": False, "unit": "dB", "summary": "-"}]
    page = render_report([make_run("r", [row(image="x", psnr=30.0, ssim=0.9, fid=12.345678)],
                                   [meta("bicubic", metrics=ms)],
                                   metrics=("psnr", "ssim", "fid"))])
    assert "30.00 / 0.9000 / 12.35" in re.sub(r"<[^>]+>", "", _section(page, "headline"))


def test_report_without_metric_columns_still_renders(make_run):
    # a results.csv of an older tool with no score columns at all: rows and steps shown
    rows = [row(method="a", image="x", step=s, is_final=s == 1, kernel_psnr=40.0 + s)
            for s in range(2)]
    page = render_report([make_run("r", rows, metrics=())])
    assert "Metrics: none in results.csv." in page
    steps = _section(page, "steps")
    assert "kernel PSNR (dB) ↑" in steps and "41.00" in steps

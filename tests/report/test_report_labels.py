"""Row labels and groups: rows made with the true noise level sit with the upper bounds,
and one method run with different weights never shows as one row."""

from __future__ import annotations

import re

from report_helpers import meta, row, write_run

from bsrbench.report import render_report


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    nxt = page.find("<h2", start)
    return page[start:nxt if nxt > 0 else None]


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(row class, first cell text, the rest as text) of every body row."""
    out = []
    for css, tr in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', html, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        if cells:
            text = [re.sub(r"<[^>]+>", "", c) for c in cells]
            out.append((css, text[0], " | ".join(text[1:])))
    return out


def test_report_noise_known_rows_are_upper_bounds(make_run):
    rows = [row(method="dan", image="x", psnr=27.0, ssim=0.8, noise=10.0),
            row(method="srmd+dan", image="x", psnr=29.5, ssim=0.85, noise=10.0,
                noise_known=True, run_id="r2"),
            row(method="srmd+oracle", image="x", psnr=30.0, ssim=0.86, noise=10.0,
                upper_bound=True, noise_known=True, run_id="r3")]
    page = render_report([make_run("r", rows, [meta("dan"), meta("srmd+dan", "r2"),
                                               meta("srmd+oracle", "r3")])])
    head = _section(page, "headline")
    got = _rows(head)
    assert [(css, name) for css, name, _ in got] == [
        ("group", "blind methods"), ("", "dan"),
        ("group", "upper bound (ground-truth kernel or true noise level) — not blind, "
                  "not ranked"),
        ("ub", "srmd+dannoise known"), ("ub", "srmd+oracleupper boundnoise known")]
    # the best PSNR is an upper bound's, yet only the blind method is bold
    assert '<b class="best">27.00</b>' in head and head.count('class="best"') == 2
    assert '<span class="badge noise">noise known</span>' in head
    assert "Upper bounds (ground-truth kernel or true noise level, not blind): srmd+dan, " \
           "srmd+oracle." in page
    assert "gaussian8/hr (noise 10)" in head  # the noise level names the column


def test_report_noise_only_group_says_so(make_run):
    rows = [row(method="dan", image="x", psnr=27.0, ssim=0.8),
            row(method="srmd+dan", image="x", psnr=29.5, ssim=0.85, noise_known=True)]
    head = _section(render_report([make_run("r", rows)]), "headline")
    assert "upper bound (true noise level) — not blind, not ranked" in head
    assert "ground-truth kernel" not in head


def test_report_same_label_blind_and_with_noise_are_two_rows(make_run):
    rows = [row(method="dan", image="x", psnr=27.0, ssim=0.8),
            row(method="dan", image="x", dataset="gaussian8/other", psnr=28.0, ssim=0.8,
                noise_known=True)]
    head = _section(render_report([make_run("r", rows)]), "headline")
    names = [name for _, name, _ in _rows(head)]
    assert "dan" in names and "dan (noise known)noise known" in names


def test_report_weights_tell_same_methods_apart(tmp_path):
    # one folder: ikc with its bundled and with official weights on two test sets
    one = write_run(tmp_path / "one", [
        row(method="ikc", weights="bundled", image="x", psnr=28.0, ssim=0.8),
        row(method="ikc", weights="official", image="x", dataset="set5", psnr=29.0, ssim=0.8,
            run_id="r2")])
    # another folder: ikc with a file of its own; bicubic's weights never vary
    two = write_run(tmp_path / "two", [
        row(method="ikc", weights="file:1a2b3c4d", image="x", psnr=28.5, ssim=0.8),
        row(method="bicubic", weights="none", image="x", psnr=25.0, ssim=0.7)])
    head = _section(render_report([one, two]), "headline")
    names = [name for _, name, _ in _rows(head)]
    assert names == ["ikc [bundled]", "ikc [official]", "ikc [file:1a2b3c4d]", "bicubic"]


def test_report_same_method_in_two_folders_names_the_folder(tmp_path):
    rows = [row(method="ikc", weights="bundled", image="x", psnr=28.0, ssim=0.8)]
    a = write_run(tmp_path / "a", rows)
    b = write_run(tmp_path / "b", [{**rows[0], "psnr": 28.2}])
    head = _section(render_report([a, b]), "headline")
    assert [name for _, name, _ in _rows(head)] == ["ikc (a)", "ikc (b)"]
    assert '<b class="best">28.20</b>' in head


def test_report_pictures_name_rows_that_are_not_blind(make_run):
    from report_helpers import hr_image, save_pictures

    rows = [row(method="dan", image="x", psnr=27.0, ssim=0.8),
            row(method="srmd+dan", image="x", psnr=29.5, ssim=0.85, noise_known=True),
            row(method="srmd+oracle", image="x", psnr=30.0, ssim=0.86, upper_bound=True)]
    run = make_run("r", rows)
    save_pictures(run, "gaussian8/hr", 4, {"x": hr_image(0)},
                  {"dan": 1, "srmd+dan": 1, "srmd+oracle": 1})
    vis = _section(render_report([run]), "images")
    caps = re.findall(r'<div class="cap">([^<]*)</div>', vis)
    assert caps == ["HR", "LR ×4 (nearest)", "dan", "srmd+dan (noise known)",
                    "srmd+oracle (upper bound)"]

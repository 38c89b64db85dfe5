"""Published rows beside measured ones: in the report's headline and the terminal summary,
marked as quoted, never ranked, with the measured difference and the citation."""

from __future__ import annotations

from report_helpers import meta, row

from bsrbench.published import match
from bsrbench.report import render_report
from bsrbench.results import load_frame
from bsrbench.summary import summary_text


def _ikc_set5(make_run, psnr: float):
    rows = [row(method="ikc", model="ikc", weights="bundled", dataset="gaussian8/Set5",
                image=f"im{i}", psnr=psnr, ssim=0.82) for i in range(2)]
    rows += [row(method="bicubic", dataset="gaussian8/Set5", image=f"im{i}", psnr=25.0,
                 ssim=0.70) for i in range(2)]
    return make_run("set5", rows, [meta("ikc"), meta("bicubic", run_id="r1b")])


def test_report_headline_shows_the_published_row_quoted_with_the_difference(make_run):
    published = match("ikc", "gaussian8", "gaussian8/Set5", 4, downsampler="matlab-bicubic")
    assert published is not None
    html = render_report([_ikc_set5(make_run, 29.0)])
    head = html[html.index('id="headline"'):]
    head = head[:head.index("</table>")]
    assert "ikc (published)" in head and "quoted, not measured" in head
    assert f"{published.psnr:.2f}" in head
    assert f"Δ {29.0 - published.psnr:+.2f} dB" in head
    assert "not measured, not ranked" in head
    assert published.paper.split(",")[0] in html  # the citation is on the page
    # the quoted value is never bold (never ranked): bicubic's measured rows are the only
    # blind competitors of ikc there
    quoted = head[head.index("ikc (published)"):]
    assert "<b>" not in quoted.split("</tr>")[0] and "<strong>" not in quoted.split("</tr>")[0]


def test_report_has_no_published_row_for_other_sets_or_compositions(make_run):
    rows = [row(method="sftmd+ikc.predictor", model="sftmd", estimator="ikc.predictor",
                dataset="gaussian8/Set5", psnr=28.0, ssim=0.8),
            row(method="ikc", dataset="gaussian8/BSD68", psnr=26.0, ssim=0.7)]
    html = render_report([make_run("other", rows, [meta("ikc")])])
    assert "(published)" not in html


def test_summary_prints_the_published_row_as_quoted(make_run):
    folder = _ikc_set5(make_run, 29.0)
    text = summary_text(load_frame(folder / "results.csv"))
    published = match("ikc", "gaussian8", "gaussian8/Set5", 4, downsampler="matlab-bicubic")
    line = next(ln for ln in text.splitlines() if "published" in ln)
    assert "quoted, not measured" in line and f"{published.psnr:.2f}" in line
    assert f"{29.0 - published.psnr:+.2f} dB" in line
    assert "bicubic" not in text.split("bicubic on")[1].split("\n")[1]  # no quote for bicubic


def test_report_kernel_tables_label_kernels_by_their_parameters(make_run):
    """A fixed grid (Gaussian8) has kernels as columns headed by σ; per-image random
    anisotropic kernels (DIV2KRK) are rows labelled (λ1, λ2, θ), with noise and JPEG."""
    grid = [row(method="bicubic", dataset="gaussian8/Set5", image=f"im{i}", kernel_index=k,
                sigma=s, sigma2=s, theta=0.0, psnr=25.0 + k, ssim=0.7) for i in range(2)
            for k, s in enumerate((1.8, 3.2))]
    rand = [row(method="bicubic", dataset="div2krk/Set5", image=f"im{i}", kernel_index=0,
                sigma=1.0 + i, sigma2=0.5, theta=0.3 * i, noise=5.0, jpeg=30, psnr=24.0,
                ssim=0.6) for i in range(2)]
    html = render_report([make_run("k", grid + rand, [meta("bicubic")])])
    section = html[html.index('id="sigma"'):]
    assert "σ = 1.80" in section and "σ = 3.20" in section
    assert "im1: λ = (2.00, 0.50), θ = 0.30, noise 5, JPEG q30" in section
    assert "one random kernel per HR image" in section


def test_report_header_names_bundled_short_budget_weights(make_run):
    note = "bundled IKC x4 weights are a short CPU budget: 2.65 dB below the paper"
    folder = make_run("b", [row(method="ikc", weights="bundled", psnr=29.0, ssim=0.8)],
                      [meta("ikc", bundled_notes=[note])])
    html = render_report([folder])
    head = html[:html.index('id="summary"')]
    assert f"Bundled weights (ikc): {note}" in head

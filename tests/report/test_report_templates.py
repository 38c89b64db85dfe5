"""The page is rendered by autoescaping jinja2 templates from plain values: no markup is
built in Python, the report never reaches into the runner, a broken run.json is reported
in place, and the same files give the same bytes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from report_helpers import BUILTIN, meta, row

import bsrbench.report
from bsrbench.report import render_report, write_report
from bsrbench.report.page import environment

PACKAGE = Path(bsrbench.report.__file__).parent


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    nxt = page.find("<h2", start)
    return page[start:nxt if nxt > 0 else None]


def _strings(tree: ast.AST) -> list[str]:
    """String constants that are not docstrings."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


def test_report_package_builds_no_markup_and_never_imports_the_runner():
    import re

    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "context.py", "tables.py", "svg.py",
                                         "images.py", "page.py"}
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                     for a in n.names}
        assert not {m for m in imported if m and m.startswith(("bsrbench.runner",
                                                               "bsrbench.summary"))}, path
        markup = [s for s in _strings(tree) if re.search(r"</?[a-z][a-z0-9]*[\s>/]", s)]
        assert not markup, f"{path.name} builds HTML: {markup[:3]}"
    assert environment().autoescape is True
    assert {"report.html", "macros.html", "style.css"} <= {
        p.name for p in (PACKAGE / "templates").iterdir()}


def test_report_escapes_what_run_json_says(make_run):
    evil = "<script>alert(1)</script>"
    entry = meta("bicubic", command=f"bsrbench run -m {evil}",
                 metrics=[*BUILTIN, {"name": "x<y", "higher_better": False, "unit": "<u>"}])
    run = make_run("r", [row(image="a", psnr=30.0, ssim=0.9)], [entry])
    page = render_report([run])
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<u>" not in page and "x&lt;y ↓ &lt;u&gt;" in _section(page, "meta")


def test_report_corrupt_run_json_is_said_not_fatal(make_run):
    run = make_run("r", [row(image="a", psnr=30.0, ssim=0.9)], [meta("bicubic")])
    (run / "run.json").write_text('{"runs": [', encoding="utf-8")
    page = render_report([run])
    section = _section(page, "meta")
    assert 'class="warn">run.json unreadable, provenance unknown:' in section
    assert "is corrupt (JSONDecodeError)" in section
    assert "30.00</b> / <b class=\"best\">0.9000" in _section(page, "headline")  # still shown


def test_report_metadata_shows_the_new_provenance(make_run):
    run = make_run("r", [row(image="a", psnr=30.0, ssim=0.9, run_id="20261202T0700-ab12cd")],
                   [meta("bicubic", "20261202T0700-ab12cd", noise_known=False)])
    section = _section(render_report([run]), "meta")
    for text in ("run id", "20261202T0700-ab12cd", "noise known", "False", "psnr ↑ dB",
                 "ssim ↑", "bsrbench run -m bicubic (test)", "sha256:feedbeef"):
        assert text in section


def test_report_is_byte_reproducible(make_run, runs, tmp_path):
    lpips = {"name": "lpips", "higher_better": False, "unit": "", "summary": "-"}
    extra = make_run("extra", [row(method="b", image="colour", psnr=25.0, ssim=0.7,
                                   lpips=0.2, noise_known=True)],
                     [meta("b", metrics=(*BUILTIN, lpips))], metrics=("psnr", "ssim", "lpips"))
    (extra / "run.json").write_text(json.dumps({"runs": "not a list"}), encoding="utf-8")
    folders = [runs["bic"], runs["iter"], extra]
    a = write_report(folders, tmp_path / "a.html")
    b = write_report(folders, tmp_path / "sub" / "b.html")
    assert a.read_bytes() == b.read_bytes()
    assert render_report(folders).encode("utf-8") == a.read_bytes()
    assert b"LPIPS" in a.read_bytes() and b"not a bsrbench run record" in a.read_bytes()


def test_report_of_runs_without_rows_says_so(tmp_path):
    from bsrbench.results import RESULTS, columns_for

    run = tmp_path / "r"
    run.mkdir()
    (run / RESULTS).write_text(",".join(columns_for(("psnr", "ssim"))) + "\n", encoding="utf-8")
    page = render_report([run])
    assert "These runs have no results yet." in page and 'id="meta"' in page
    assert 'id="headline"' not in page


def test_report_names_rows_that_do_not_parse(make_run):
    # a hand-edited cell that is not a number: the row is reported, in no mean
    run = make_run("r", [row(image="a", psnr=30.0, ssim=0.9),
                         row(image="b", psnr="abc", ssim=0.9)], [meta("bicubic")])
    page = render_report([run])
    assert "Warning: 1 row(s) of r/results.csv do not parse and are left out: line 3: psnr" \
        in page
    assert "results.csv rows left out (they do not parse): line 3: psnr" in page
    assert "mean over 1 LR images" in page

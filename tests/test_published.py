"""The table of published results: it parses, every row is cited and plausible, ``match``
finds rows from the labels results.csv uses, and ``bsrbench published`` filters."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from bsrbench.cli import main
from bsrbench.errors import InputError
from bsrbench.published import ALIASES, PublishedResult, canonical_dataset, load, match, select

HEADER = ("method,published_as,protocol,downsampler,dataset,scale,noise,psnr,ssim,convention,"
          "paper,table,source,note")
GOOD = 'ikc,IKC,gaussian8,matlab-bicubic,Set5,4,0,31.67,0.8829,not stated,"A, B: T, V 2020",T1,R,'


def test_published_table_parses_and_every_row_is_cited():
    rows = load()
    assert rows, "the packaged table is empty"
    for row in rows:
        assert isinstance(row, PublishedResult)
        for field in ("paper", "table", "source", "convention", "published_as"):
            assert getattr(row, field).strip(), f"{row.key} has no {field}"
        assert row.method == row.method.lower() and " " not in row.method
        assert row.dataset in ALIASES


def test_published_every_source_is_named_in_the_file_header():
    from importlib import resources

    text = resources.files("bsrbench.published").joinpath("results.csv").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for row in load():
        repo = row.source.split()[0]  # "greatlog/DAN README.md @ ..." -> "greatlog/DAN"
        assert f"github.com/{repo}" in header, f"{row.key}: {repo} is not in the header"


def test_published_values_in_range_and_keys_unique():
    rows = load()
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    for row in rows:
        assert 20.0 < row.psnr < 45.0, row
        assert row.ssim is None or 0.5 < row.ssim < 1.0, row
        assert row.scale in (2, 3, 4)


def test_published_protocols_and_downsamplers_are_registered(registry):
    protocols = set(registry.list("protocol"))
    downsamplers = set(registry.list("degradation"))
    for row in load():
        assert row.protocol in protocols, row.key
        assert not row.downsampler or row.downsampler in downsamplers, row.key


def test_published_match_finds_ikc_set5_x4_from_run_labels():
    row = match("ikc", "gaussian8", "gaussian8/Set5", 4)
    assert row is not None
    assert (row.psnr, row.ssim, row.dataset, row.scale) == (31.67, 0.8829, "Set5", 4)
    assert match("ikc", "gaussian8", "Set5", 4, downsampler="matlab-bicubic") == row
    assert match("ikc", "gaussian8", "gaussian8/set5", 4) == row


@pytest.mark.parametrize(("method", "protocol", "dataset", "scale", "down"), [
    ("sftmd+ikc", "gaussian8", "gaussian8/Set5", 4, None),  # a composition is not ikc
    ("ikc", "gaussian8", "gaussian8", 4, None),  # the embedded default set
    ("ikc", "gaussian8", "gaussian8/BSD68", 4, None),  # BSD68 is not B100
    ("ikc", "bicubic", "bicubic/Set5", 4, None),  # another protocol
    ("ikc", "gaussian8", "bicubic/Set5", 4, None),  # label and protocol disagree
    ("ikc", "gaussian8", "gaussian8/Set5", 4, "pil-bicubic"),  # other LR images
    ("ikc", "gaussian8", "gaussian8/Set5", 8, None),
])
def test_published_match_refuses_what_is_not_the_same_test(method, protocol, dataset, scale,
                                                            down):
    assert match(method, protocol, dataset, scale, downsampler=down) is None


def test_published_match_needs_the_same_noise():
    assert match("ikc", "gaussian8", "gaussian8/Set5", 4, noise=0) is not None
    assert match("ikc", "gaussian8", "gaussian8/Set5", 4, noise=15) is None


def test_published_match_tells_downsamplers_apart(tmp_path):
    pil = GOOD.replace("matlab-bicubic", "pil-bicubic").replace("31.67", "30.00")
    rows = load(_write(tmp_path, GOOD, pil))
    assert len(rows) == 2  # same method, protocol, set and scale: different LR images
    args = ("ikc", "gaussian8", "gaussian8/Set5", 4)
    assert match(*args, downsampler="pil-bicubic", rows=rows).psnr == 30.00
    assert match(*args, downsampler="matlab-bicubic", rows=rows).psnr == 31.67
    assert match(*args, rows=rows) is None  # ambiguous without the run's downsampler
    assert match(*args, downsampler="direct", rows=rows) is None


def test_published_dataset_aliases_are_the_same_images_only():
    assert canonical_dataset("gaussian8/BSD100") == "B100"
    assert canonical_dataset("bsds100") == "B100"
    assert canonical_dataset("BSD68") is None
    b100 = match("danv1", "gaussian8", "gaussian8/BSD100", 4)
    assert b100 is not None and b100.dataset == "B100"
    assert {r.dataset for r in select(dataset="BSD100")} == {"B100"}


def _write(tmp_path, *lines: str):
    path = tmp_path / "results.csv"
    path.write_text("\n".join(["# comment", HEADER, *lines]) + "\n")
    return path


def test_published_load_reads_a_file(tmp_path):
    [row] = load(_write(tmp_path, GOOD))
    assert row.paper == "A, B: T, V 2020" and row.note == ""
    assert "T1" in row.citation and "R" in row.citation


@pytest.mark.parametrize(("line", "words"), [
    (GOOD.replace(",T1,R,", ",,R,"), "empty 'table'"),
    (GOOD.replace(",T1,R,", ",T1,,"), "empty 'source'"),
    (GOOD.replace("31.67", "3167"), "outside 10..60"),
    (GOOD.replace("0.8829", "88.29"), "outside (0, 1]"),
    (GOOD.replace("Set5", "BSD68"), "unknown dataset"),
    (GOOD.replace(",4,", ",four,"), "scale is an integer"),
    (GOOD.replace(",4,0,", ",4,300,"), "noise 300.0 is outside"),
    (GOOD + ",extra", "cells"),
])
def test_published_load_names_the_bad_line(tmp_path, line, words):
    with pytest.raises(InputError, match=r"results\.csv:3: ") as err:
        load(_write(tmp_path, line))
    assert words in str(err.value)


def test_published_load_refuses_duplicates_and_bad_header(tmp_path):
    with pytest.raises(InputError, match="duplicate"):
        load(_write(tmp_path, GOOD, GOOD))
    bad = tmp_path / "bad.csv"
    bad.write_text("method,psnr\nikc,31.67\n")
    with pytest.raises(InputError, match="columns must be"):
        load(bad)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.csv")


def test_published_rows_are_frozen():
    row = load()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.psnr = 0.0  # type: ignore[misc]


def test_published_command_lists_quoted_rows_with_citation():
    out = CliRunner().invoke(main, ["published", "--method", "ikc", "--dataset", "Set5",
                                    "--scale", "4"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "QUOTED from papers (not measured" in lines[0]
    data = [line for line in lines if " x4 " in line]
    assert len(data) == 1 and "31.67" in data[0] and "0.8829" in data[0]
    assert "NeurIPS 2020" in out.output and "greatlog/DAN README.md" in out.output
    assert "convention" in out.output


def test_published_command_filters_with_patterns():
    runner = CliRunner()
    out = runner.invoke(main, ["published", "-d", "urban*", "-s", "x2"])
    assert out.exit_code == 0, out.output
    rows = [line.split() for line in out.output.splitlines() if " x" in line and "  " in line]
    assert rows and all("Urban100" in r and "x2" in r for r in rows)
    assert len(rows) == len(select(dataset="urban*", scale="2"))
    every = runner.invoke(main, ["published"])
    assert every.output.count(" x4 ") > out.output.count(" x4 ")


def test_published_command_matching_nothing_says_so_and_exits_0():
    out = CliRunner().invoke(main, ["published", "--method", "nosuch"])
    assert out.exit_code == 0
    assert out.output.startswith("no published row matches --method nosuch")
    assert len(out.output.strip().splitlines()) == 1


def test_published_command_ties_each_note_to_its_rows():
    out = CliRunner().invoke(main, ["published", "--method", "danv1", "-d", "manga*"]).output
    lines = out.splitlines()
    x2 = next(line for line in lines if " x2 " in line and "gaussian8" in line)
    x3 = next(line for line in lines if " x3 " in line and "gaussian8" in line)
    assert x2.endswith("[1]") and x3.endswith("[2]")  # x3 carries its own caveat
    assert any(line.strip().startswith("[2] ") and "0.93824" in line for line in lines)

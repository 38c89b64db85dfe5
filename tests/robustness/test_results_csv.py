"""results.csv never loses or misreports data (issue #16): user columns, hand edits,
spreadsheets, unreadable files and a full disk.

Runs use a fake two-step method (``robust_helpers.fake_plugin``) on the two small HR images
of ``hr_dir`` (Gaussian8 x4: 16 LR images, 32 rows).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from robust_helpers import (
    ROWS,
    assert_no_debris,
    fake_plugin,
    one_line_error,
    rewrite_csv,
    snapshot,
)

from bsrbench.results import load_frame, read_table


def test_extra_user_column_is_kept_by_a_refused_and_by_a_resumed_run(cli, base, tmp_path):
    res = cli(*base, plugin=fake_plugin(fail=True))  # grey fails: its images are redone later
    assert res.exit_code == 1
    out = tmp_path / "r"
    rewrite_csv(out / "results.csv",
             lambda h, rows: ([*h, "note"], [{**r, "note": "mine"} for r in rows]))
    before = snapshot(out)
    one_line_error(cli(*base, "--convention", "rgb", plugin=fake_plugin()), 2,
                   "other metric convention")
    assert snapshot(out) == before
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    table = read_table(out / "results.csv")
    first = 16 + 8  # colour's rows and grey's error rows
    assert table.header[-1] == "note" and len(table.rows) == first + 16
    assert [r["note"] for r in table.rows[:first]] == ["mine"] * first
    assert all(r["note"] == "" for r in table.rows[first:])  # the recomputed grey rows
    assert_no_debris(tmp_path)


def test_non_numeric_psnr_is_reported_not_averaged_and_recomputed(cli, base, folder):
    path = folder / "results.csv"

    def spoil(header, rows):
        rows[1]["psnr"] = "n/a"  # colour, kernel 1, step 0
        return header, rows

    rewrite_csv(path, spoil)
    table = read_table(path)
    assert [r.reason for r in table.unresolved()] == ["psnr 'n/a' is not a number"]
    frame = load_frame(table)
    assert int(frame["is_final"].sum()) == 15  # the image is left out, never averaged over
    res = cli(*base, plugin=fake_plugin())
    assert res.exit_code == 0
    assert "line 3: psnr 'n/a' is not a number; the image is recomputed" in res.stderr
    table = read_table(path)
    assert not table.unresolved() and len(table.rows) == ROWS + 2
    assert table.rows[1]["psnr"] == "n/a"  # history kept, superseded by the new rows
    assert int(load_frame(table)["is_final"].sum()) == 16


class _FullDisk:
    """A file whose write stores half the text and then fails as a full disk does."""

    def __init__(self, f, path: str) -> None:
        self.f, self.path = f, path

    def write(self, text: str) -> int:
        self.f.write(text[: len(text) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, "No space left on device", self.path)

    def __getattr__(self, name: str):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def test_disk_full_on_append_leaves_a_valid_file_and_one_line(cli, base, tmp_path,
                                                              monkeypatch):
    import bsrbench.results.table as table_module

    appends = []

    def full_on_second_append(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)  # noqa: SIM115 (the caller closes it)
        if "a" in mode:  # the first rows came with the new file; these are the second
            appends.append(path)
            if len(appends) == 1:
                return _FullDisk(f, str(path))
        return f

    with monkeypatch.context() as m:
        m.setattr(table_module, "open", full_on_second_append, raising=False)
        # a fixed batch of 8: the first append holds the first image's 8 LR images
        one_line_error(cli(*base, "--batch-size", "8", plugin=fake_plugin()), 1,
                       "disk full", "results.csv")
    out = tmp_path / "r"
    table = read_table(out / "results.csv")
    assert not table.invalid and len(table.done()) == 8  # the first image's rows stand
    first = (out / "results.csv").read_bytes()
    assert cli(*base, "--batch-size", "8", plugin=fake_plugin()).exit_code == 0
    again = read_table(out / "results.csv")
    assert len(again.current()) == ROWS and not again.torn and not again.invalid
    assert (out / "results.csv").read_bytes().startswith(first[: first.rfind(b"\n") + 1])
    assert_no_debris(tmp_path)


@pytest.mark.parametrize("kind", ["folder", "binary", "foreign"])
def test_results_csv_that_is_not_a_results_file_is_refused_and_kept(cli, base, tmp_path,
                                                                    kind):
    out = tmp_path / "r"
    out.mkdir()
    target = out / "results.csv"
    if kind == "folder":
        target.mkdir()
        (target / "keep.txt").write_text("x")
    elif kind == "binary":
        target.write_bytes(b"\xff\xfe\x00\x01" * 50)
    else:
        target.write_text("name,score\nalice,3\n")
    before = snapshot(out)
    one_line_error(cli(*base, plugin=fake_plugin()), 2, "results")
    assert snapshot(out) == before and not (out / "run.json").exists()


def test_user_text_column_stays_text_and_is_not_averaged(cli, base, folder):
    rewrite_csv(folder / "results.csv",
             lambda h, rows: ([*h, "note"], [{**r, "note": "checked"} for r in rows]))
    frame = load_frame(folder / "results.csv")
    assert (frame["note"] == "checked").all()  # not coerced to NaN
    res = cli(*base, plugin=fake_plugin())
    assert res.exit_code == 0 and "note" not in res.stdout  # no column of NaN means


def _drop_sigma_cell(path: Path, line: int) -> str:
    """Delete one cell of a line, as a slip in a text editor does; return the line."""
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[line - 1].split(",")
    del cells[lines[0].strip().split(",").index("sigma")]  # later values move left
    lines[line - 1] = ",".join(cells)
    path.write_text("".join(lines))
    return lines[line - 1]


@pytest.mark.parametrize("line", [2, 3, 33], ids=["first", "inside", "last"])
def test_row_with_a_missing_cell_is_invalid_until_a_later_run(cli, base, folder, line):
    path = folder / "results.csv"
    _drop_sigma_cell(path, line)
    table = read_table(path)
    assert [(r.line, r.shifted) for r in table.unresolved()] == [(line, True)]
    assert "cells, the header" in table.unresolved()[0].reason
    assert len(table.current()) == ROWS - 2  # its image is left out, both steps
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    table = read_table(path)
    assert not table.unresolved() and len(table.current()) == ROWS


def test_rewrite_for_a_new_column_keeps_a_shifted_row_as_it_was(cli, base, tmp_path):
    assert cli(*base, "--metrics", "psnr", plugin=fake_plugin()).exit_code == 0
    path = tmp_path / "r" / "results.csv"
    broken = _drop_sigma_cell(path, 3)
    assert cli(*base, plugin=fake_plugin()).exit_code == 0  # adds ssim: file replaced
    text = path.read_text()
    assert "ssim" in text.splitlines()[0]
    assert broken.rstrip("\r\n") + "," in text  # padded, never realigned into new values
    table = read_table(path)
    assert [r.line for r in table.invalid] == [3] and not table.unresolved()


def test_results_saved_with_a_byte_order_mark_still_resume(cli, base, folder):
    path = folder / "results.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's "CSV UTF-8"
    before = snapshot(folder)
    res = cli(*base, plugin=fake_plugin())
    assert res.exit_code == 0, res.output
    assert snapshot(folder)["results.csv"] == before["results.csv"]  # nothing recomputed


def test_failed_rewrite_for_a_new_column_leaves_the_file_and_no_tmp(cli, base, tmp_path,
                                                                     monkeypatch):
    import os

    import bsrbench.results.table as table_module

    assert cli(*base, "--metrics", "psnr", plugin=fake_plugin(fail=True)).exit_code == 1
    out = tmp_path / "r"
    before = (out / "results.csv").read_bytes()

    class FullDiskOs:  # os as results.table sees it, with a disk that fills on fsync
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fsync(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(table_module, "os", FullDiskOs())
        one_line_error(cli(*base, plugin=fake_plugin()), 1, "disk full")  # adds ssim
    assert (out / "results.csv").read_bytes() == before
    assert_no_debris(tmp_path)
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    assert "ssim" in read_table(out / "results.csv").header


def test_unreadable_results_csv_is_bad_input_and_kept(cli, base, folder, monkeypatch):
    before = snapshot(folder)
    real = Path.read_text

    def no_permission(self, *args, **kwargs):
        if self.name == "results.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    with monkeypatch.context() as m:  # root reads any file: simulate chmod 000
        m.setattr(Path, "read_text", no_permission)
        one_line_error(cli(*base, plugin=fake_plugin()), 2, "cannot read", "results.csv")
    assert snapshot(folder) == before


def test_flag_that_is_neither_true_nor_false_is_invalid(cli, base, folder):
    path = folder / "results.csv"

    def spoil(header, rows):
        rows[9]["is_final"] = "maybe"  # colour, kernel 1, final step
        return header, rows

    rewrite_csv(path, spoil)
    table = read_table(path)
    assert [r.reason for r in table.unresolved()] == ["is_final 'maybe' is neither True nor "
                                                      "False"]
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    assert not read_table(path).unresolved()


def test_columns_reordered_by_a_user_still_resume_and_append_aligned(cli, base, folder):
    path = folder / "results.csv"
    rewrite_csv(path, lambda h, rows: (h[::-1], [r for r in rows if r["image"] == "colour"]))
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    table = read_table(path)
    assert table.header[0] == "error" and not table.invalid  # the user's order is kept
    assert len(table.current()) == ROWS
    assert {r["method"] for r in table.rows} == {"fake"}  # new rows in the user's order


def test_disk_full_on_the_first_rows_leaves_no_header_only_file(cli, base, tmp_path,
                                                                monkeypatch):
    import os

    import bsrbench.results.table as table_module

    class FullDiskOs:  # os as results.table sees it, with a disk that fills on fsync
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fsync(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(table_module, "os", FullDiskOs())
        one_line_error(cli(*base, plugin=fake_plugin()), 1, "disk full")
    assert not (tmp_path / "r" / "results.csv").exists()
    assert_no_debris(tmp_path)
    assert cli(*base, plugin=fake_plugin()).exit_code == 0  # the run starts again
    assert len(read_table(tmp_path / "r" / "results.csv").current()) == ROWS

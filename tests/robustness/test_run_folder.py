"""A run folder never loses or misreports data (issue #16): results.csv and run.json under
refused, rejected, interrupted and failing runs, and their repair.

Runs use a fake two-step method (``robust_helpers.fake_plugin``) on the two small HR images
of ``hr_dir`` (Gaussian8 x4: 16 LR images, 32 rows), so each command takes about a second.
"""

from __future__ import annotations

import csv
import errno
import io
import json
from pathlib import Path

import pytest
from robust_helpers import assert_no_debris, fake_plugin, one_line_error, snapshot

from bsrbench.results import load_frame, read_table

ROWS = 32  # 2 HR images x 8 kernels x 2 steps


@pytest.fixture
def base(hr_dir: Path) -> tuple[str, ...]:
    return ("run", "-m", "fake", "-d", "gaussian8", "--hr", str(hr_dir), "-o", "r", "-q")


@pytest.fixture
def folder(cli, base, tmp_path: Path) -> Path:
    """A run folder holding one finished run of the fake method."""
    res = cli(*base, plugin=fake_plugin())
    assert res.exit_code == 0, res.output
    return tmp_path / "r"


def _rewrite(path: Path, edit) -> None:
    """Rewrite a results.csv the way a user's script or spreadsheet would."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    header, rows = edit(list(rows[0]), rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())


def _runs(folder: Path) -> list[dict]:
    return json.loads((folder / "run.json").read_text())["runs"]


def test_extra_user_column_is_kept_by_a_refused_and_by_a_resumed_run(cli, base, tmp_path):
    res = cli(*base, plugin=fake_plugin(fail=True))  # grey fails: its images are redone later
    assert res.exit_code == 1
    out = tmp_path / "r"
    _rewrite(out / "results.csv",
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


def test_refused_run_keeps_the_error_rows(cli, base, tmp_path):
    assert cli(*base, plugin=fake_plugin(fail=True)).exit_code == 1
    out = tmp_path / "r"
    errors = [r for r in read_table(out / "results.csv").rows if r["error"]]
    assert len(errors) == 8 and "boom on grey" in errors[0]["error"]
    before = snapshot(out)
    one_line_error(cli(*base, "--batch-size", "3", plugin=fake_plugin()), 2, "batch size")
    assert snapshot(out) == before
    # the correct command recomputes them; the error rows stay in the history
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    table = read_table(out / "results.csv")
    assert sum(1 for r in table.rows if r["error"]) == 8
    assert not any(r["error"] for r in table.current()) and len(table.current()) == ROWS


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_missing_or_truncated_run_json_is_refused_then_repaired_then_resumed(
        cli, base, folder, tmp_path, damage):
    run_json = folder / "run.json"
    if damage == "missing":
        run_json.unlink()
    else:
        run_json.write_text(run_json.read_text()[:100])
    before = snapshot(folder)
    one_line_error(cli(*base, plugin=fake_plugin()), 2, "run.json", "bsrbench repair r")
    one_line_error(cli(*base, "--convention", "rgb", plugin=fake_plugin()), 2,
                   "bsrbench repair r")  # never silently a fresh start with other settings
    assert snapshot(folder) == before

    res = cli("repair", "r")
    assert res.exit_code == 0, res.output
    assert "not recovered: test set content hash, options, weights" in res.stdout
    assert (folder / "run.json.corrupt").is_file() == (damage == "truncated")
    entry = _runs(folder)[0]
    assert entry["method"] == "fake" and entry["convention"] == "matlab-y"
    assert "options" in entry["repaired"]["not recovered"]
    csv_before = (folder / "results.csv").read_bytes()
    # what the rows record is still checked: another convention is refused
    one_line_error(cli(*base, "--convention", "rgb", plugin=fake_plugin()), 2,
                   "other metric convention")
    res = cli(*base, plugin=fake_plugin())  # same settings: resumes, nothing recomputed
    assert res.exit_code == 0 and "final" in res.stdout
    assert (folder / "results.csv").read_bytes() == csv_before
    assert_no_debris(tmp_path)


@pytest.mark.parametrize("content", [b"[1, 2]", b'{"runs": {}}', b"\xff\xfe\x00junk", None],
                         ids=["list", "runs-not-a-list", "binary", "folder"])
def test_run_json_that_is_not_a_run_record_is_refused_and_repairable(
        cli, base, folder, content):
    run_json = folder / "run.json"
    run_json.unlink()
    if content is None:
        run_json.mkdir()
    else:
        run_json.write_bytes(content)
    before = snapshot(folder)
    one_line_error(cli(*base, plugin=fake_plugin()), 2, "run.json", "bsrbench repair r")
    assert snapshot(folder) == before
    assert cli("repair", "r").exit_code == 0
    assert cli(*base, plugin=fake_plugin()).exit_code == 0


def test_repair_refuses_what_it_cannot_or_need_not_do(cli, folder, tmp_path):
    one_line_error(cli("repair", "r"), 2, "nothing to repair")
    one_line_error(cli("repair", "nowhere"), 2, "no rows")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "results.csv").write_text(
        (folder / "results.csv").read_text().splitlines()[0] + "\n")
    one_line_error(cli("repair", "empty"), 2, "no rows")
    assert not (tmp_path / "empty" / "run.json").exists()


def test_same_hr_folder_name_with_other_images_is_refused(cli, base, folder, hr_dir):
    import numpy as np
    from PIL import Image

    before = snapshot(folder)
    other = np.asarray(Image.open(hr_dir / "colour.png"))[::-1].copy()
    Image.fromarray(other).save(hr_dir / "colour.png")
    one_line_error(cli(*base, plugin=fake_plugin()), 2, "other test set content")
    assert snapshot(folder) == before


def test_rejected_run_is_not_recorded_and_the_correct_command_then_runs(cli, base, tmp_path):
    one_line_error(cli(*base, "-O", "steps=-1", plugin=fake_plugin()), 2,
                   "fake steps must be >= 1")
    assert not (tmp_path / "r").exists()  # not even a header-only results.csv
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    out = tmp_path / "r"
    before = snapshot(out)
    one_line_error(cli(*base, "-O", "steps=-1", plugin=fake_plugin()), 2)
    one_line_error(cli(*base, "-O", "steps=x", plugin=fake_plugin()), 2, "steps")
    assert snapshot(out) == before and len(_runs(out)) == 1
    res = cli(*base, plugin=fake_plugin())  # not refused as "other options"
    assert res.exit_code == 0 and snapshot(out) == before
    assert_no_debris(tmp_path)


def test_ikc_with_negative_steps_is_not_recorded(cli, base, folder):
    before = snapshot(folder)
    one_line_error(cli(*base[:2], "ikc", *base[3:], "-O", "steps=-1"), 2, "steps")
    assert snapshot(folder) == before


def test_weights_with_wrong_shapes_are_not_recorded(cli, hr_dir, tmp_path):
    import torch

    from bsrbench.weights import save_state_dict

    bad = tmp_path / "bad.safetensors"
    save_state_dict({"model.0.weight": torch.zeros(3, 3)}, bad)
    args = ("run", "-m", "srmd", "-k", "oracle", "-d", "gaussian8", "--hr", hr_dir,
            "-o", "r", "-q")
    one_line_error(cli(*args, "--weights", bad), 2, "bad.safetensors")
    assert not (tmp_path / "r").exists()
    res = cli(*args)
    assert res.exit_code == 0, res.output
    assert len(_runs(tmp_path / "r")) == 1


def test_non_numeric_psnr_is_reported_not_averaged_and_recomputed(cli, base, folder):
    path = folder / "results.csv"

    def spoil(header, rows):
        rows[1]["psnr"] = "n/a"  # colour, kernel 1, step 0
        return header, rows

    _rewrite(path, spoil)
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


def test_batch_size_is_part_of_the_resume_check(cli, base, folder):
    before = snapshot(folder)
    one_line_error(cli(*base, "--batch-size", "3", plugin=fake_plugin()), 2,
                   "other batch size", "--out")
    assert snapshot(folder) == before
    assert _runs(folder)[0]["batch_size"] == 8


def test_ctrl_c_keeps_the_rows_and_names_the_folder_to_resume(cli, base, tmp_path):
    res = cli(*base, plugin=fake_plugin(interrupt=True))
    assert res.exit_code == 130
    assert res.stderr.strip().splitlines() == [
        "interrupted: results so far are in r; rerun with --out r to resume"]
    out = tmp_path / "r"
    table = read_table(out / "results.csv")
    assert not table.torn and not table.invalid
    assert {r["image"] for r in table.rows} == {"colour"} and len(table.rows) == 16
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    again = read_table(out / "results.csv")
    assert len(again.rows) == ROWS and again.rows[:16] == table.rows
    assert_no_debris(tmp_path)


def test_resumed_run_reports_skipped_images_not_a_rate(cli, base, folder):
    _rewrite(folder / "results.csv",
             lambda h, rows: (h, [r for r in rows if r["image"] == "colour"]))
    res = cli(*base[:-1], plugin=fake_plugin())  # not quiet: progress lines on stderr
    assert res.exit_code == 0
    assert "8 done before" in res.stderr and "already done, skipped" in res.stderr


def test_progress_rate_counts_only_work_done_now(monkeypatch, caplog):
    import logging

    import bsrbench.progress as progress

    clock = iter([0.0, 2.0])  # start, then the update
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="bsrbench"):
        bar = progress.Progress(16, "resume", unit="LR")
        bar.skip(12)
        bar.update(4)  # 4 LR images in 2 s: 2 LR/s, not 16/2
    assert "12/16 LR already done, skipped" in caplog.text
    assert "(2 LR/s" in caplog.text


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
        if "a" in mode:
            appends.append(path)
            if len(appends) == 2:
                return _FullDisk(f, str(path))
        return f

    with monkeypatch.context() as m:
        m.setattr(table_module, "open", full_on_second_append, raising=False)
        one_line_error(cli(*base, plugin=fake_plugin()), 1, "disk full", "results.csv")
    out = tmp_path / "r"
    table = read_table(out / "results.csv")
    assert not table.invalid and len(table.done()) == 8  # the first image's rows stand
    first = (out / "results.csv").read_bytes()
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    again = read_table(out / "results.csv")
    assert len(again.current()) == ROWS and not again.torn and not again.invalid
    assert (out / "results.csv").read_bytes().startswith(first[: first.rfind(b"\n") + 1])
    assert_no_debris(tmp_path)


def test_disk_full_on_run_json_keeps_the_old_one(cli, base, folder, tmp_path, monkeypatch):
    import bsrbench.results.provenance as provenance

    before = snapshot(folder)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(provenance.os, "fsync", no_space)
        res = cli("run", "-m", "bicubic", *base[3:])  # new rows to write: run.json first
    one_line_error(res, 1, "disk full")
    assert snapshot(folder) == before
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
    _rewrite(folder / "results.csv",
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


def test_second_run_into_a_folder_in_use_is_refused(cli, base, folder):
    import os

    fcntl = pytest.importorskip("fcntl")
    before = snapshot(folder)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run holds the folder
        one_line_error(cli(*base, "--convention", "matlab-y", plugin=fake_plugin()), 2,
                       "being written by another bsrbench run")
    finally:
        os.close(fd)
    assert snapshot(folder) == before
    assert cli(*base, plugin=fake_plugin()).exit_code == 0


def test_refused_run_into_a_new_nested_out_leaves_no_folders(cli, base, tmp_path):
    args = [*base]
    args[args.index("r")] = "a/b/c"
    one_line_error(cli(*args, "-O", "steps=0", plugin=fake_plugin()), 2, "steps")
    assert not (tmp_path / "a").exists()


def test_repair_waits_for_no_run_holding_the_folder(cli, folder):
    import os

    fcntl = pytest.importorskip("fcntl")
    (folder / "run.json").unlink()
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        one_line_error(cli("repair", "r"), 2, "being written by another bsrbench run")
        assert not (folder / "run.json").exists()
    finally:
        os.close(fd)
    assert cli("repair", "r").exit_code == 0


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

    _rewrite(path, spoil)
    table = read_table(path)
    assert [r.reason for r in table.unresolved()] == ["is_final 'maybe' is neither True nor "
                                                      "False"]
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    assert not read_table(path).unresolved()


def test_columns_reordered_by_a_user_still_resume_and_append_aligned(cli, base, folder):
    path = folder / "results.csv"
    _rewrite(path, lambda h, rows: (h[::-1], [r for r in rows if r["image"] == "colour"]))
    assert cli(*base, plugin=fake_plugin()).exit_code == 0
    table = read_table(path)
    assert table.header[0] == "error" and not table.invalid  # the user's order is kept
    assert len(table.current()) == ROWS
    assert {r["method"] for r in table.rows} == {"fake"}  # new rows in the user's order


@pytest.mark.parametrize("field", ["dataset", "weights_sha256", "options", "run_id"])
def test_hand_edited_run_json_entry_is_refused_and_repairable(cli, base, folder, field):
    entries = _runs(folder)
    entries[0][field] = ["not", "an", "object"]
    (folder / "run.json").write_text(json.dumps({"runs": entries}))
    before = snapshot(folder)
    one_line_error(cli(*base, plugin=fake_plugin()), 2, f"entry 1 is malformed ('{field}'",
                   "bsrbench repair r")
    assert snapshot(folder) == before
    assert cli("repair", "r").exit_code == 0
    assert cli(*base, plugin=fake_plugin()).exit_code == 0


def test_repair_skips_broken_rows_and_keeps_every_corrupt_copy(cli, base, folder):
    def spoil(header, rows):
        rows[0]["scale"] = "x4"
        return header, rows

    _rewrite(folder / "results.csv", spoil)
    for attempt in range(2):
        (folder / "run.json").write_text(f"{{broken {attempt}")
        res = cli("repair", "r")
        assert res.exit_code == 0, res.output
    assert (folder / "run.json.corrupt").read_text() == "{broken 0"
    assert (folder / "run.json.corrupt.1").read_text() == "{broken 1"
    assert [e["dataset"]["scale"] for e in _runs(folder)] == [4]

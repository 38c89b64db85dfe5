"""A run folder never loses or misreports data (issue #16): run.json and the folder under
refused, rejected, interrupted and failing runs, and their repair.

Runs use a fake two-step method (``robust_helpers.fake_plugin``) on the two small HR images
of ``hr_dir`` (Gaussian8 x4: 16 LR images, 32 rows), so each command takes about a second.
results.csv's own cases are in ``test_results_csv.py``.
"""

from __future__ import annotations

import errno
import json

import pytest
from robust_helpers import (
    ROWS,
    assert_no_debris,
    fake_plugin,
    one_line_error,
    rewrite_csv,
    run_entries,
    snapshot,
)

from bsrbench.results import read_table


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
    entry = run_entries(folder)[0]
    assert entry["method"] == "fake" and entry["convention"] == "matlab-y"
    assert "options" in entry["repaired"]["not recovered"]
    csv_before = (folder / "results.csv").read_bytes()
    # what the rows record is still checked: another convention is refused
    one_line_error(cli(*base, "--convention", "rgb", plugin=fake_plugin()), 2,
                   "other metric convention")
    res = cli(*base, plugin=fake_plugin())  # same settings: resumes, nothing recomputed
    assert res.exit_code == 0 and "final" in res.stdout
    assert "come from a repaired run.json; their batch size, options, test set content " \
           "cannot be checked" in res.stderr
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
    assert snapshot(out) == before and len(run_entries(out)) == 1
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
    assert len(run_entries(tmp_path / "r")) == 1


def test_batch_size_is_part_of_the_resume_check(cli, base, folder):
    before = snapshot(folder)
    one_line_error(cli(*base, "--batch-size", "3", plugin=fake_plugin()), 2,
                   "other batch size", "--out")
    assert snapshot(folder) == before
    assert run_entries(folder)[0]["batch_size"] == "auto"  # the default


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
    rewrite_csv(folder / "results.csv",
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


@pytest.mark.parametrize("field", ["dataset", "weights_sha256", "options", "run_id"])
def test_hand_edited_run_json_entry_is_refused_and_repairable(cli, base, folder, field):
    entries = run_entries(folder)
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

    rewrite_csv(folder / "results.csv", spoil)
    for attempt in range(2):
        (folder / "run.json").write_text(f"{{broken {attempt}")
        res = cli("repair", "r")
        assert res.exit_code == 0, res.output
    assert (folder / "run.json.corrupt").read_text() == "{broken 0"
    assert (folder / "run.json.corrupt.1").read_text() == "{broken 1"
    assert [e["dataset"]["scale"] for e in run_entries(folder)] == [4]

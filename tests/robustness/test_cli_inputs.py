"""Bad input at the command line (issue #16): one ``error:`` line, exit 2, nothing written.

Each case is what a careful user would try: out-of-range numbers, empty values, paths that
are files where folders are needed, duplicated names, weights that are not weights, a
closed output pipe, a report over damaged images.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from robust_helpers import assert_no_debris, fake_plugin, one_line_error, snapshot


def _run(hr_dir: Path | str, *extra: str) -> tuple[str, ...]:
    return ("run", "-m", "bicubic", "-d", "gaussian8", "--hr", str(hr_dir), "-o", "r", "-q",
            *extra)


# (extra arguments, words the one error line must hold)
BAD_RUN_OPTIONS = [
    (("--seed", "99999999999999999999"), "--seed"),
    (("--seed", "-1"), "--seed"),
    (("--seed", "abc"), "--seed"),
    (("--scale", ""), "--scale is empty"),
    (("--scale", "0"), "positive integer"),
    (("--scale", "-4"), "positive integer"),
    (("--scale", "4.0"), "positive integer"),
    (("--scale", "4,4"), "'4' twice"),
    (("--batch-size", "0"), "--batch-size"),
    (("--batch-size", "abc"), "--batch-size"),
    (("--batch-size", "-2"), "'auto' or an integer"),
    (("--ray-shard", "2"), "--ray-shard needs --executor ray"),
    (("--executor", "ray", "--ray-shard", "0"), "--ray-shard must be a positive"),
    (("--noise", "inf"), "noise must be"),
    (("--noise", "nan"), "noise must be"),
    (("--noise", "-1"), "noise must be"),
    (("--noise", "1e6"), "noise must be"),
    (("--metrics", "nosuch"), "unknown metric"),
    (("--metrics", ""), "--metrics is empty"),
    (("--metrics", "psnr,psnr"), "'psnr' twice"),
    (("--convention", "ycbcr"), "convention"),
    (("--device", "tpu"), "tpu"),
    (("--weights", "none.pth"), "none.pth"),
    (("-O", "noequals"), "NAME=VALUE"),
    (("-O", "steps=3"), "no option 'steps'"),
    (("--config", "none.toml"), "none.toml"),
    (("--kernel", ""), "--kernel is empty"),
    (("--bogus",), "No such option"),
    (("-o", ""), "is empty"),  # pathlib would read '' as the current folder
    (("--weights", ""), "is empty"),
    (("--cache-dir", " "), "is empty"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD_RUN_OPTIONS,
                         ids=[" ".join(e) or "empty" for e, _ in BAD_RUN_OPTIONS])
def test_bad_run_option_is_one_line_exit_2_and_writes_nothing(cli, hr_dir, tmp_path, extra,
                                                              needle):
    one_line_error(cli(*_run(hr_dir, *extra)), 2, needle)
    assert not (tmp_path / "r").exists()
    assert_no_debris(tmp_path)


def test_duplicate_method_in_a_comma_list_is_refused(cli, hr_dir, tmp_path):
    args = list(_run(hr_dir))
    args[2] = "bicubic,bicubic"
    one_line_error(cli(*args), 2, "--method names 'bicubic' twice")
    assert not (tmp_path / "r").exists()


def test_hr_that_is_a_file_says_so(cli, hr_dir, tmp_path):
    line = one_line_error(cli(*_run(hr_dir / "colour.png")), 2, "is a file, not a folder")
    assert "does not exist" not in line and "not found" not in line
    one_line_error(cli(*_run(tmp_path / "nowhere")), 2, "not found")
    one_line_error(cli(*_run("")), 2, "--hr is empty")  # never the embedded set
    assert not (tmp_path / "r").exists()


def test_hr_with_only_a_test_set_file_is_refused(cli, hr_dir, tmp_path):
    assert cli("datasets", "build", "bicubic", "--hr", hr_dir, "--out", "b.h5").exit_code == 0
    one_line_error(cli("run", "-m", "bicubic", "-d", "b.h5", "--hr", hr_dir, "-o", "r"), 2,
                   "--hr does not apply to a test-set file")
    assert not (tmp_path / "r").exists()


def test_sweep_checks_every_hr_folder_before_any_work(cli, hr_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(hr_dir, broken)
    (broken / "grey.png").write_bytes(b"not a png")
    for second, needle in ((tmp_path / "nowhere", "not found"), (broken, "grey.png")):
        res = cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", f"{hr_dir},{second}",
                  "-o", "r", "-q")
        one_line_error(res, 2, needle)
        assert not (tmp_path / "r").exists()  # the first folder's job never ran
    assert not list((tmp_path / "cache").glob("*.h5"))  # nor was its test set built


def test_out_under_a_file_or_at_a_file_is_refused(cli, hr_dir, tmp_path):
    (tmp_path / "afile").write_text("keep")
    one_line_error(cli(*_run(hr_dir)[:-3], "-o", "afile/sub", "-q"), 2, "afile", "a file")
    one_line_error(cli(*_run(hr_dir)[:-3], "-o", "afile", "-q"), 2, "is a file")
    assert (tmp_path / "afile").read_text() == "keep"
    assert cli(*_run(hr_dir)).exit_code == 0
    before = snapshot(tmp_path / "r")
    # --out pointing at a file inside a run folder
    one_line_error(cli(*_run(hr_dir)[:-3], "-o", "r/results.csv", "-q"), 2, "is a file")
    assert snapshot(tmp_path / "r") == before


def test_out_that_cannot_be_written_is_bad_input(cli, hr_dir, tmp_path, monkeypatch):
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == "ro" else
                        real(p, mode))  # root passes os.access everywhere: simulate a
    (tmp_path / "ro").mkdir()  # read-only folder
    one_line_error(cli(*_run(hr_dir)[:-3], "-o", "ro/run", "-q"), 2, "cannot write in ro")
    assert list((tmp_path / "ro").iterdir()) == []


@pytest.mark.parametrize("err", ["ENOTDIR", "EEXIST", "EACCES", "EROFS", "ENOSPC", "EIO"])
def test_os_errors_exit_2_for_the_users_path_and_1_for_failed_work(cli, hr_dir, monkeypatch,
                                                                   err):
    import errno

    import bsrbench.sweep

    code = getattr(errno, err)

    def fail(*args, **kwargs):
        raise OSError(code, os_strerror(code), "some/path")

    monkeypatch.setattr(bsrbench.sweep, "_tasks", fail)  # where the sweep's work starts
    line = one_line_error(cli(*_run(hr_dir)), 1 if err in ("ENOSPC", "EIO") else 2,
                          "some/path")
    assert ("disk full" in line) == (err == "ENOSPC")


def os_strerror(code: int) -> str:
    import os

    return os.strerror(code)


def test_sr_out_that_is_a_file_and_bad_scales(cli, hr_dir, tmp_path):
    (tmp_path / "afile").write_text("keep")
    sr = ("sr", "-m", "bicubic", "-i", hr_dir)
    one_line_error(cli(*sr, "-o", "afile"), 2, "afile is a file")
    one_line_error(cli(*sr, "-o", "afile/sub"), 2, "afile", "a file")
    for scale in ("", "0", "-2", "x"):
        one_line_error(cli(*sr, "--scale", scale, "-o", "o"), 2, "--scale")
    assert (tmp_path / "afile").read_text() == "keep" and not (tmp_path / "o").exists()


def test_datasets_build_checks_its_paths_and_ranges(cli, hr_dir, tmp_path):
    (tmp_path / "afile").write_text("keep")
    build = ("datasets", "build", "gaussian8")
    one_line_error(cli(*build, "--hr", hr_dir / "colour.png"), 2, "is a file, not a folder")
    one_line_error(cli(*build, "--hr", hr_dir, "--out", "afile/x.h5"), 2, "afile", "a file")
    one_line_error(cli(*build, "--hr", hr_dir, "--out", hr_dir), 2, "is a folder")
    one_line_error(cli(*build, "--hr", hr_dir, "--seed", str(2**32)), 2, "--seed")
    one_line_error(cli(*build, "--hr", hr_dir, "--scale", "0"), 2, "--scale")
    one_line_error(cli(*build, "--hr", hr_dir, "--noise", "inf"), 2, "noise must be")
    one_line_error(cli("datasets", "export", tmp_path / "x.h5", "afile"), 2, "afile")
    assert (tmp_path / "afile").read_text() == "keep"
    assert_no_debris(tmp_path)


@pytest.mark.parametrize("kind", ["pickle", "random", "empty"])
def test_random_pth_as_weights_never_advises_weights_only_false(cli, hr_dir, tmp_path, kind):
    import pickle

    path = tmp_path / "random.pth"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"a": object.__name__, "b": [1, 2]}))
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 16)
    else:
        path.write_bytes(b"")
    res = cli("run", "-m", "srmd", "-k", "oracle", "-d", "gaussian8", "--hr", hr_dir,
              "--weights", path, "-o", "r", "-q")
    line = one_line_error(res, 2, "random.pth", "is empty" if kind == "empty" else
                          "not a checkpoint of plain tensors")
    assert "weights_only=False" not in res.output and "arbitrary code" not in line
    assert not (tmp_path / "r").exists()


def test_output_into_a_closed_pipe_ends_quietly():
    """``bsrbench methods | head -1``: the reader goes away; no "Broken pipe" line."""
    proc = subprocess.Popen([sys.executable, "-c", "from bsrbench.cli import main; main()",
                             "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the first write: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_usage_errors_are_one_line(cli, hr_dir):
    for args, needle in ((("run", "--seed"), "--seed"), (("sr", "-m", "bicubic"), "--input"),
                         (("repair",), "RUN_DIR"), (("methods", "extra"), "extra")):
        one_line_error(cli(*args), 2, needle)


def test_report_of_a_folder_without_results_or_of_a_file(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    one_line_error(cli("report", "empty"), 2, "no results.csv")
    one_line_error(cli("report", "afile"), 2, "afile")
    one_line_error(cli("report", "nowhere"), 2, "nowhere")


@pytest.fixture
def saved(cli, hr_dir, tmp_path) -> Path:
    res = cli("run", "-m", "fake", "-d", "gaussian8", "--hr", hr_dir, "-o", "r", "-q",
              "--save-images", plugin=fake_plugin())
    assert res.exit_code == 0, res.output
    return tmp_path / "r"


@pytest.mark.parametrize("kind", ["sr", "hr"])
def test_a_corrupt_png_in_images_does_not_abort_the_report(cli, saved, kind):
    png = sorted((saved / "images" / kind).rglob("*.png"))[0]
    png.write_bytes(b"not a png")
    res = cli("report", saved)
    assert res.exit_code == 0, res.output


def test_cache_dir_that_is_a_file_is_bad_input(cli, hr_dir, tmp_path):
    (tmp_path / "afile").write_text("keep")
    one_line_error(cli(*_run(hr_dir, "--cache-dir", "afile")), 2, "afile")
    assert not (tmp_path / "r").exists()


CONFIGS = [
    ("scales = []", "--scale is empty"),
    ("scales = [0]", "positive integer"),
    ('scales = "4,x"', "positive integer"),
    ("seed = -1", "seed must be"),
    ("seed = 99999999999999999999", "seed must be"),
    ("noise = 1e9", "noise must be"),
    ("noise = nan", "noise must be"),
    ("batch_size = 0", "batch-size"),
    ('methods = ["bicubic", "bicubic"]', "twice"),
    ('hr = ""', "--hr is empty"),
    ("metrics = []", "--metrics is empty"),
]


@pytest.mark.parametrize(("line", "needle"), CONFIGS, ids=[c for c, _ in CONFIGS])
def test_bad_config_value_is_one_line_exit_2(cli, tmp_path, line, needle):
    keys = {"methods": '"bicubic"', "datasets": '"gaussian8"', "out": '"r"'}
    keys.pop(line.split("=")[0].strip(), None)
    cfg = tmp_path / "sweep.toml"
    cfg.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()) + line + "\n")
    one_line_error(cli("run", "--config", cfg, "-q"), 2, needle)
    assert not (tmp_path / "r").exists()


def test_datasets_info_and_export_of_a_folder_say_it_is_a_folder(cli, hr_dir, tmp_path):
    one_line_error(cli("datasets", "info", hr_dir), 2, "is a folder, not a test-set file")
    one_line_error(cli("datasets", "export", hr_dir, "out"), 2, "is a folder")
    assert not (tmp_path / "out").exists()


def test_save_images_onto_a_file_named_images_is_refused_before_work(cli, hr_dir, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "images").write_text("mine")
    one_line_error(cli(*_run(hr_dir, "--save-images")), 2, "r/images is a file")
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["images"]


def test_hr_image_too_small_is_found_before_work(cli, hr_dir, tmp_path):
    import numpy as np
    from PIL import Image

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tiny / "t.png")
    res = cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", f"{hr_dir},{tiny}",
              "-o", "r", "-q")
    one_line_error(res, 2, "too small")
    assert not (tmp_path / "r").exists()


def test_option_with_an_empty_value_is_refused(cli, hr_dir, tmp_path):
    res = cli("run", "-m", "fake", "-d", "gaussian8", "--hr", hr_dir, "-o", "r", "-q",
              "-O", "steps=", plugin=fake_plugin())
    one_line_error(res, 2, "steps")
    assert not (tmp_path / "r").exists()


def test_ctrl_c_in_sr_says_what_was_written(cli, tmp_path):
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((12, 10, 3), 90, np.uint8)).save(photos / "a.png")
    Image.fromarray(np.full((10, 11, 3), 90, np.uint8)).save(photos / "b.png")  # interrupts
    res = cli("sr", "-m", "fake", "-i", photos, "-o", "o", "-q",
              plugin=fake_plugin(interrupt=True))
    assert res.exit_code == 130
    assert res.stderr.strip().splitlines() == [
        "interrupted: 1 of 2 SR images were written to o (each is complete); rerun to "
        "restore them all"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.png"]


@pytest.mark.parametrize("kind", ["binary", "folder", "not-toml"])
def test_config_that_is_not_a_toml_file_is_one_line(cli, tmp_path, kind):
    cfg = tmp_path / "sweep.toml"
    if kind == "binary":
        cfg.write_bytes(bytes(range(128, 256)))
    elif kind == "folder":
        cfg.mkdir()
    else:
        cfg.write_text("methods = [bicubic\n")
    one_line_error(cli("run", "--config", cfg, "-q"), 2, "config file")

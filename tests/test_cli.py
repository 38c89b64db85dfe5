"""The command line: one-line errors with exit codes, run, datasets, listings."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bsrbench.cli import main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def test_cli_unknown_method_is_one_line_with_suggestion(cli):
    res = cli("run", "--method", "bicubik", "--dataset", "gaussian8")
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0
    assert "did you mean 'bicubic'" in res.output and "Traceback" not in res.output


def test_cli_unknown_dataset_is_one_line_with_suggestion(cli):
    res = cli("run", "--method", "bicubic", "--dataset", "gaussain8")
    assert res.exit_code == 2 and "did you mean 'gaussian8'" in res.output


def test_cli_bad_inputs_exit_2(cli, tmp_path):
    cases = [
        ("run", "-m", "bicubic", "-d", "gaussian8", "--hr", tmp_path / "none"),
        ("run", "-m", "bicubic", "-d", tmp_path / "none.h5"),
        ("run", "-m", "bicubic", "-d", "gaussian8", "--device", "tpu"),
        ("run", "-m", "bicubic", "-d", "gaussian8", "--iterations", "3"),
        ("run", "-m", "bicubic", "-d", "gaussian8", "-O", "noequals"),
        ("run", "-m", "bicubic", "-d", "gaussian8", "--convention", "ycbcr"),
        ("datasets", "info", tmp_path / "none.h5"),
    ]
    for args in cases:
        res = cli(*args)
        assert res.exit_code == 2, (args, res.output)
        assert res.output.startswith("error: ") and "Traceback" not in res.output


def test_cli_run_bicubic_writes_results_and_resumes(cli, hr_dir, tmp_path):
    res = cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "--out", "r", "-q")
    assert res.exit_code == 0, res.output
    assert "bicubic on gaussian8/hr x4" in res.output and "final" in res.output
    assert (tmp_path / "r" / "results.csv").is_file() and (tmp_path / "r" / "run.json").is_file()
    again = cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "--out", "r", "-q")
    assert again.exit_code == 0
    lines = (tmp_path / "r" / "results.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 16


def test_cli_datasets_build_info_export(cli, hr_dir, tmp_path):
    res = cli("datasets", "build", "gaussian8", "--hr", hr_dir, "--scale", "2",
              "--downsampler", "pil-bicubic", "--out", tmp_path / "g8.h5")
    assert res.exit_code == 0, res.output
    info = cli("datasets", "info", tmp_path / "g8.h5")
    assert "downsampler: pil-bicubic" in info.output and "content_hash:" in info.output
    exp = cli("datasets", "export", tmp_path / "g8.h5", tmp_path / "exp")
    assert exp.exit_code == 0 and "16 LR images" in exp.output
    run = cli("run", "-m", "bicubic", "-d", tmp_path / "g8.h5", "--out", "r2", "-q")
    assert run.exit_code == 0 and "x2" in run.output


def test_cli_methods_and_plugins_list_what_loaded(cli):
    methods = cli("methods")
    assert methods.exit_code == 0
    for name in ("bicubic", "ikc", "sftmd", "srmd", "oracle", "ikc.predictor"):
        assert name in methods.output
    assert "upper bound" in methods.output
    plugins = cli("plugins")
    assert plugins.exit_code == 0 and "bicubic" in plugins.output


def test_cli_sr_restores_real_images_with_steps(cli, hr_dir, tmp_path):
    res = cli("sr", "-m", "bicubic", "-i", hr_dir, "--scale", "2", "-o", "sr", "--save-steps")
    assert res.exit_code == 0, res.output
    from bsrbench.images import read_image

    out = read_image(tmp_path / "sr" / "colour.png")
    assert out.pixels.shape == (96, 80, 3)
    assert read_image(tmp_path / "sr" / "grey.png").grey  # grey in, grey out
    assert (tmp_path / "sr" / "colour_step0.png").is_file()
    bad = cli("sr", "-m", "bicubic", "-i", tmp_path / "nothing.png", "-o", "sr")
    assert bad.exit_code == 2 and "not found" in bad.output
    oracle = cli("sr", "-m", "sftmd", "-k", "oracle", "-i", hr_dir, "-o", "sr")
    assert oracle.exit_code == 2 and "ground-truth" in oracle.output


def test_cli_sweep_runs_every_combination_into_one_csv(cli, hr_dir, tmp_path):
    res = cli("run", "-m", "bicubic", "-d", "gaussian8,bicubic", "--hr", hr_dir,
              "--scale", "2,4", "--out", "sw", "-q")
    assert res.exit_code == 0, res.output
    from bsrbench.results import load_frame

    frame = load_frame(tmp_path / "sw" / "results.csv")
    assert sorted(frame.groupby(["dataset", "scale"]).size().items()) == [
        (("bicubic/hr", 2), 2), (("bicubic/hr", 4), 2),
        (("gaussian8/hr", 2), 16), (("gaussian8/hr", 4), 16)]
    again = cli("run", "-m", "bicubic", "-d", "gaussian8,bicubic", "--hr", hr_dir,
                "--scale", "2,4", "--out", "sw", "-q")
    assert again.exit_code == 0
    assert len(load_frame(tmp_path / "sw" / "results.csv")) == 36  # resumed, nothing redone


def test_cli_config_file_and_unknown_keys(cli, hr_dir, tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(f'methods = ["bicubic"]\ndatasets = ["gaussian8"]\nhr = ["{hr_dir}"]\n'
                   'scales = [3]\nout = "cfgrun"\n')
    res = cli("run", "--config", cfg, "-q")
    assert res.exit_code == 0, res.output
    assert "x3" in res.output and (tmp_path / "cfgrun" / "results.csv").is_file()
    cfg.write_text('methods = ["bicubic"]\ndatasets = ["gaussian8"]\nmethdos = 1\n')
    bad = cli("run", "--config", cfg)
    assert bad.exit_code == 2 and "unknown key 'methdos'" in bad.output
    typo = cli("run", "-m", "bicubic,ikcc", "-d", "gaussian8", "--hr", hr_dir)
    assert typo.exit_code == 2 and "did you mean 'ikc'" in typo.output


def test_cli_rerun_into_an_out_with_other_settings_is_refused(cli, hr_dir, tmp_path):
    """Same method and dataset label but another noise level (another test set): resuming
    would skip every image and report the old numbers as the new ones."""
    base = ("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "--out", "r", "-q")
    assert cli(*base).exit_code == 0
    before = (tmp_path / "r" / "results.csv").read_text()
    res = cli(*base, "--noise", "5")
    assert res.exit_code == 2 and "other test set content" in res.output
    assert res.output.count("\n") == 1 and "pass another --out" in res.output
    res = cli(*base, "--convention", "rgb")
    assert res.exit_code == 2 and "other metric convention" in res.output
    assert (tmp_path / "r" / "results.csv").read_text() == before
    assert cli(*base).exit_code == 0  # the same settings still resume


def test_cli_results_saved_by_a_spreadsheet_still_resume(cli, hr_dir, tmp_path):
    """A spreadsheet writes TRUE/FALSE: the rows must be kept, not dropped and rerun."""
    base = ("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "--out", "r", "-q")
    assert cli(*base).exit_code == 0
    path = tmp_path / "r" / "results.csv"
    path.write_text(path.read_text().replace(",True,", ",TRUE,").replace(",False,", ",FALSE,"))
    res = cli(*base)
    assert res.exit_code == 0 and "final" in res.output
    from bsrbench.results import load_frame

    frame = load_frame(path)
    assert len(frame) == 16 and frame["is_final"].all()


def test_cli_out_that_is_not_a_results_folder_is_refused_and_kept(cli, hr_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.csv").write_text("name,value\na,1\n")
    base = ("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "-q")
    res = cli(*base, "--out", other)
    assert res.exit_code == 2 and "not a bsrbench results file" in res.output
    assert (other / "results.csv").read_text() == "name,value\na,1\n"
    (tmp_path / "afile").write_text("x")
    res = cli(*base, "--out", tmp_path / "afile")
    assert res.exit_code == 2 and "is a file" in res.output


def test_cli_scale_that_disagrees_with_a_test_set_file_is_refused(cli, hr_dir, tmp_path):
    assert cli("datasets", "build", "gaussian8", "--hr", hr_dir, "--scale", "4",
               "--out", tmp_path / "g8.h5").exit_code == 0
    res = cli("run", "-m", "bicubic", "-d", tmp_path / "g8.h5", "--scale", "2", "-q")
    assert res.exit_code == 2 and "is a x4 test set, not x2" in res.output


def test_cli_config_values_of_the_wrong_type_are_one_line_errors(cli, tmp_path):
    cfg = tmp_path / "sweep.toml"
    for line, message in (('options = ["iterations=3"]', "options must be dict"),
                          ('noise = "5"', "noise must be int or float"),
                          ("batch_size = true", "batch_size must be int")):
        cfg.write_text(f'methods = ["bicubic"]\ndatasets = ["gaussian8"]\n{line}\n')
        res = cli("run", "--config", cfg)
        assert res.exit_code == 2 and message in res.output, (line, res.output)
        assert "Traceback" not in res.output


def test_cli_os_errors_are_one_line(cli, hr_dir, tmp_path):
    (tmp_path / "report_dir").mkdir()
    assert cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "--out", "r",
               "-q").exit_code == 0
    res = cli("report", tmp_path / "r", "--out", tmp_path / "report_dir")
    assert res.exit_code == 2 and res.output.startswith("error: ")  # the user's path
    assert res.output.count("\n") == 1 and "Traceback" not in res.output


def test_cli_sr_keeps_going_past_a_broken_image_and_never_overwrites_inputs(cli, hr_dir,
                                                                            tmp_path):
    import shutil

    photos = tmp_path / "photos"
    shutil.copytree(hr_dir, photos)
    (photos / "broken.png").write_bytes(b"not a png")
    res = cli("sr", "-m", "bicubic", "-i", photos, "--scale", "2", "-o", "out")
    assert res.exit_code == 1 and "1 of 3 images failed (first: broken.png" in res.output
    assert (tmp_path / "out" / "colour.png").is_file()  # the others were restored
    assert (tmp_path / "out" / "grey.png").is_file()
    (photos / "broken.png").unlink()
    before = (photos / "colour.png").read_bytes()
    res = cli("sr", "-m", "bicubic", "-i", photos, "--scale", "2", "-o", photos)
    assert res.exit_code == 2 and "would overwrite the input images" in res.output
    assert (photos / "colour.png").read_bytes() == before
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(photos / "colour.png", twin / "colour.png")
    res = cli("sr", "-m", "bicubic", "-i", photos, "-i", twin, "--scale", "2", "-o", "o2")
    assert res.exit_code == 2 and "several inputs are named 'colour'" in res.output


def test_cli_interrupt_names_the_run_folder_to_resume(cli, hr_dir, tmp_path, monkeypatch):
    """Without --out every run gets a new folder: Ctrl-C must say which one to resume."""
    import bsrbench.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bsrbench.runner, "run", interrupted)
    res = cli("run", "-m", "bicubic", "-d", "gaussian8", "--hr", hr_dir, "-q")
    assert res.exit_code == 130
    assert "interrupted: results so far are in results" in res.output
    assert "rerun with --out results" in res.output


def test_pick_device_refuses_a_cuda_index_the_machine_lacks(monkeypatch):
    import torch

    from bsrbench.device import pick_device
    from bsrbench.errors import InputError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == "cuda:0"
    for name in ("cuda:1", "cuda:x"):
        with pytest.raises(InputError, match="has 1 CUDA device"):
            pick_device(name)

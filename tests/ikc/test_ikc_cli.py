"""IKC from the command line with the bundled weights: run (every step scored), sr on a
real photograph, and the official release layout through --weights."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from shared_bundle import shared_dir

from bsrbench.cli import main
from bsrbench.images import embedded_images, read_image, write_png


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from bsrbench_ikc.checkpoints import weights_available

    if not weights_available(4):
        pytest.fail("bundled IKC x4 weights are missing from plugins/ikc/bsrbench_ikc/weights")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    write_png(folder / "coffee.png", embedded_images(crop=48)[1].pixels)
    return folder


def test_ikc_run_scores_every_step_and_marks_the_final(cli, photo_dir, tmp_path):
    res = cli("run", "-m", "ikc", "-d", "gaussian8", "--hr", photo_dir, "-O", "steps=4",
              "--out", "r", "-q")
    assert res.exit_code == 0, res.output
    from bsrbench.results import load_frame

    frame = load_frame(tmp_path / "r" / "results.csv")
    assert sorted(frame["step"].unique()) == [0, 1, 2, 3]
    assert frame.loc[frame["is_final"], "step"].eq(3).all() and frame["is_final"].sum() == 8
    assert frame["kernel_psnr"].notna().all() and frame["code_l2"].notna().all()
    assert "oracle best step per image (chosen with the ground truth, not a result)" in \
        res.output


    meta = json.loads((tmp_path / "r" / "run.json").read_text())["runs"][-1]
    assert any(k.endswith("weights/sftmd_x4.safetensors") for k in meta["weights_sha256"])


def test_ikc_sr_restores_a_real_photo_with_steps(cli, tmp_path):
    lr = embedded_images(crop=64)[2].pixels[::2, ::2]  # chelsea, 32x32
    write_png(tmp_path / "cat.png", np.ascontiguousarray(lr))
    res = cli("sr", "-m", "ikc", "-i", tmp_path / "cat.png", "--scale", "4", "-o", "out",
              "--save-steps", "-O", "steps=3")
    assert res.exit_code == 0, res.output
    assert read_image(tmp_path / "out" / "cat.png").pixels.shape == (128, 128, 3)
    final = read_image(tmp_path / "out" / "cat_step2.png").pixels
    assert np.array_equal(final, read_image(tmp_path / "out" / "cat.png").pixels)  # last step
    for i in range(3):
        assert (tmp_path / "out" / f"cat_step{i}.png").is_file()
        kernel = read_image(tmp_path / "out" / f"cat_kernel{i}.png").pixels
        assert kernel.shape == (21 * 8, 21 * 8, 1) and kernel.max() == 255
        numbers = np.load(tmp_path / "out" / f"cat_kernel{i}.npy")
        assert numbers.shape == (21, 21) and abs(numbers.sum() - 1) < 1e-3
        info = json.loads((tmp_path / "out" / f"cat_kernel{i}.json").read_text())
        assert info["step"] == i and info["final"] == (i == 2) and info["size"] == 21
        assert 0 < info["sigma_minor"] <= info["sigma_major"] and 0 <= info["theta_degrees"] < 180


def test_ikc_accepts_the_official_release_layout(cli, photo_dir, tmp_path):
    """The released Predictor/Corrector/PCA (.pth, hash-checked) with bsrbench's SFTMD."""
    from bsrbench_ikc.checkpoints import BUNDLED_DIR

    official = shared_dir("reference", "ikc", "official")
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("Predictor_latest_G.pth", "Corrector_latest_G.pth", "pca_matrix.pth"):
        shutil.copy(official / name, weights / name)
    shutil.copy(BUNDLED_DIR / "sftmd_x4.safetensors", weights / "sftmd_x4.safetensors")
    res = cli("run", "-m", "ikc", "-d", "gaussian8", "--hr", photo_dir, "-O", "steps=2",
              "--weights", weights, "--out", "off", "-q")
    assert res.exit_code == 0, res.output


    meta = json.loads((tmp_path / "off" / "run.json").read_text())["runs"][-1]
    assert meta["weights"] == str(weights)
    assert meta["weights_sha256"][str(weights / "Predictor_latest_G.pth")].startswith("76dab412")


def test_ikc_estimator_takes_the_official_checkpoints_through_kernel_weights(
        cli, photo_dir, tmp_path):
    """--kernel-weights gives `--kernel ikc` the released Predictor/Corrector (with an
    SFTMD of bsrbench's, which the loop needs); official checkpoints without
    pca_matrix.pth get the official PCA (bsrbench's copy), and run.json records both the
    estimator's files and the model's bundled pins."""


    from bsrbench_ikc.checkpoints import BUNDLED_DIR

    from bsrbench.results import load_frame

    official = shared_dir("reference", "ikc", "official")
    weights = tmp_path / "released"
    weights.mkdir()
    for name in ("Predictor_latest_G.pth", "Corrector_latest_G.pth"):
        shutil.copy(official / name, weights / name)
    shutil.copy(BUNDLED_DIR / "sftmd_x4.safetensors", weights / "sftmd_x4.safetensors")
    args = ("run", "-m", "sftmd", "-k", "ikc", "-d", "gaussian8", "--hr", photo_dir,
            "-O", "steps=2", "-q")
    res = cli(*args, "--kernel-weights", weights, "--out", "released_run")
    assert res.exit_code == 0, res.output
    res = cli(*args, "--out", "bundled_run")
    assert res.exit_code == 0, res.output
    released = load_frame(tmp_path / "released_run" / "results.csv")
    bundled = load_frame(tmp_path / "bundled_run" / "results.csv")
    # the released Predictor estimates other codes than the bundled one
    step0 = [f.loc[f["step"] == 0, "code_l2"].to_numpy() for f in (released, bundled)]
    assert not np.allclose(step0[0], step0[1])
    meta = json.loads((tmp_path / "released_run" / "run.json").read_text())["runs"][-1]
    assert meta["kernel_weights"] == str(weights) and meta["weights"] == "bundled"
    sha = meta["weights_sha256"]
    assert sha[str(weights / "Predictor_latest_G.pth")].startswith("76dab412")
    assert any(k.endswith("weights/sftmd_x4.safetensors") for k in sha)


@pytest.mark.parametrize(("method", "message"), [
    (("-m", "ikc"), "has none: use --weights"),
    (("-m", "sftmd", "-k", "oracle"), "uses no weights: drop --kernel-weights"),
])
def test_kernel_weights_where_no_estimator_takes_them_is_refused(cli, photo_dir, tmp_path,
                                                                 method, message):
    res = cli("run", *method, "-d", "gaussian8", "--hr", photo_dir, "--kernel-weights",
              tmp_path, "--out", "r", "-q")
    assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "cache").exists()  # refused before any test set was built


def test_sftmd_with_the_predictor_is_ikc_step_zero_exactly(cli, photo_dir, tmp_path):
    """The composition hands SFTMD the Predictor's code itself (same PCA space), so
    sftmd+ikc.predictor is ikc's first step row for row; the projection through a kernel
    is another, labelled method."""
    for args in (("-m", "ikc", "-O", "steps=1"), ("-m", "sftmd", "-k", "ikc.predictor"),
                 ("-m", "sftmd", "-k", "ikc.predictor", "-O", "kernel_input=kernel")):
        # one fixed batch for all three: rows compared for equality must share the batching
        res = cli("run", *args, "-d", "gaussian8", "--hr", photo_dir, "--out", "r", "-q",
                  "--batch-size", "8")
        assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "r" / "results.csv").open()))
    by = {m: {(r["image"], r["kernel_index"]): r for r in rows if r["method"] == m}
          for m in ("ikc", "sftmd+ikc.predictor", "sftmd+ikc.predictor[kernel-input]")}
    assert len(by["ikc"]) == 8
    for key, row in by["ikc"].items():
        same = by["sftmd+ikc.predictor"][key]
        for col in ("psnr", "ssim", "kernel_psnr", "code_l2"):
            assert same[col] == row[col], (key, col)
    # the kernel-input variant decodes the code to a kernel and re-encodes it in the same
    # PCA space: its own label and rows, and nearly lossless (it may round to equal rows)
    projected = by["sftmd+ikc.predictor[kernel-input]"]
    assert projected.keys() == by["ikc"].keys()
    assert all(abs(float(projected[k]["psnr"]) - float(r["psnr"])) < 0.01
               for k, r in by["ikc"].items())

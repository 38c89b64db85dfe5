"""The release catalogue's pins against real bytes, and the ``bsrbench weights`` group."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from loopback import PAYLOAD, serve
from shared_bundle import shared_dir

from bsrbench.cli.weights import weights_command
from bsrbench.errors import PluginError
from bsrbench.releases import ReleaseSpec, catalogue, file_hashes, git_blob_id
from bsrbench.releases.known import CORE_RELEASES


def test_git_blob_id_is_gits() -> None:
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


# (bundle folder, file) -> release name: byte-identical copies of released files
COPIES = {
    ("ikc/official", "Predictor_latest_G.pth"): "ikc_predictor_x4",
    ("ikc/official", "Corrector_latest_G.pth"): "ikc_corrector_x4",
    ("ikc/official", "pca_matrix.pth"): "ikc_pca",
    ("fkp/official", "FKP_x2.pt"): "fkp_x2",
    ("fkp/official", "FKP_x3.pt"): "fkp_x3",
    ("fkp/official", "FKP_x4.pt"): "fkp_x4",
    ("fkp/official", "usrnet_tiny.pth"): "fkp_usrnet_tiny",
    ("dan/official/DANv1", "pca_matrix.pth"): "danv1_pca_matrix",
    ("dan/official/DANv2", "pca_aniso_matrix_x4.pth"): "danv2_pca_aniso_matrix_x4",
    ("dan/official/DANv2", "pca_aniso_matrix_x2.pth"): "danv2_pca_aniso_matrix_x2",
    ("dcls/official/DCLS", "pca_aniso_matrix_x4.pth"): "dcls_pca_aniso_matrix_x4",
}


@pytest.mark.parametrize(("where", "name"), sorted(COPIES.items()), ids=lambda x: str(x))
def test_release_pins_match_the_real_bytes(where: tuple[str, str], name: str) -> None:
    path = shared_dir("reference", *where[0].split("/"), where[1])
    spec = catalogue()[name]
    blob, sha = file_hashes(path)
    assert spec.git_blob == blob and spec.sha256 == sha and spec.size == path.stat().st_size
    assert spec.filename == where[1] and spec.url.endswith(f"/{spec.commit}/{spec.path}")


def test_catalogue_lists_every_family_once() -> None:
    releases = catalogue()
    assert {"ikc_sftmd_x4", "fkp_x4", "danv1_x4_setting1", "danv2_x4_setting2",
            "dcls_x4_setting1", "dcls_x2_setting2"} <= set(releases)
    sftmd = releases["ikc_sftmd_x4"]
    assert sftmd.git_blob == "38b4893f83b01d15eb6f7ece40f4a5898c72d9cd"
    assert sftmd.commit == "2a846cf1194cd9bace08973d55ecd8fd3179fe48"
    assert not releases["danv1_x4_setting1"].pinned and releases["ikc_pca"].pinned
    with pytest.raises(PluginError, match="already listed"):
        catalogue(extra=[CORE_RELEASES[0]])
    with pytest.raises(PluginError, match="git_blob must be 40"):
        ReleaseSpec("x", "m", 4, "s", "f", "src", "MIT", git_blob="abc")


def _invoke(*args: object):
    return CliRunner().invoke(weights_command(), [str(a) for a in args])


def test_weights_get_and_list_and_verify_through_the_cli(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serve() as (url, handler):
        refused = _invoke("get", "danv1_x4_setting1", "--url", url, "--cache-dir", cache)
        assert refused.exit_code == 2
        assert refused.output.count("\n") == 1 and "unpinned" in refused.output
        got = _invoke("get", "danv1_x4_setting1", "--url", url, "--trust-on-first-use",
                      "--cache-dir", cache, "--quiet")
        assert got.exit_code == 0, got.output
        assert len(handler.seen) == 1
    path = cache / "danv1" / "danv1_x4_setting1.pth"
    assert path.read_bytes() == PAYLOAD
    listing = _invoke("list", "--cache-dir", cache)
    assert listing.exit_code == 0
    line = next(ln for ln in listing.output.splitlines() if ln.startswith("danv1_x4_setting1 "))
    assert " yes " in line and "unpinned" in line
    assert " no " in next(ln for ln in listing.output.splitlines() if ln.startswith("ikc_pca "))
    assert "blob 38b4893f83b0" in listing.output  # the IKC SFTMD pin
    ok = _invoke("verify", "--cache-dir", cache)
    assert ok.exit_code == 0 and "OK" in ok.output and "trust-on-first-use" in ok.output
    path.write_bytes(PAYLOAD[:-1] + b"x")
    bad = _invoke("verify", "--cache-dir", cache)
    assert bad.exit_code == 1 and "FAIL" in bad.output and "expected" in bad.output


def test_weights_verify_identifies_given_files(tmp_path: Path) -> None:
    folder = shared_dir("reference", "ikc", "official")
    res = _invoke("verify", folder)
    assert res.exit_code == 0, res.output
    assert "ikc_predictor_x4" in res.output and "ikc_corrector_x4" in res.output
    fake = tmp_path / "Predictor_latest_G.pth"
    fake.write_bytes(b"not the release")
    res = _invoke("verify", fake)
    sha = file_hashes(fake)[1]
    assert res.exit_code == 1 and f"has sha256 {sha}, expected 76dab412" in res.output
    res = _invoke("verify", tmp_path / "missing.pth")
    assert res.exit_code == 2 and "does not exist" in res.output
    assert _invoke("get", "danv9").exit_code == 2


def test_catalogue_and_dan_dcls_listing_never_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from bsrbench.releases import catalogue; from bsrbench.registry "
            "import load_registry; catalogue(); r = load_registry(); "
            "[r.methods[n].weights_available(4) for n in ('danv1', 'danv2', 'dcls')]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_verify_function_identifies_a_release_file() -> None:
    from bsrbench.releases import verify

    (found,) = verify(shared_dir("reference", "ikc", "official", "pca_matrix.pth"))
    assert found.ok and found.release == "ikc_pca"

"""Convert the FKP release's weights to the safetensors bundled in ``bsrbench_fkp/weights``.

The FKP authors (JingyunLiang/FKP, commit 127c121, Apache-2.0) ship ``usrnet_tiny.pth``
(KAIR's USRNet-tiny) and the flow priors ``FKP_x2/x3/x4.pt`` in ``data/pretrained_models/``.
bsrbench bundles them tensor for tensor as safetensors (no pickle) and pins their sha256.
This script reproduces that: it checks each release file's sha256, reads it with
``weights_only=True``, writes ``usrnet_tiny.safetensors`` and ``fkp_x{2,3,4}.safetensors``
(metadata: source, commit, release file, release sha256), ``sha256.json`` (the pins
``bsrbench.weights.pinned_sha256`` reads) and ``release.json`` (bundled file -> release file
and its sha256). Usage::

    python plugins/fkp/scripts/convert_release.py [--release ../shared/reference/fkp/official]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bsrbench_fkp.loading import read_state
from bsrbench_fkp.weight_files import BUNDLED_DIR, RELEASE_SHA256, SOURCE_COMMIT, SOURCE_REPO

from bsrbench.weights import file_sha256, save_state_dict

ROOT = Path(__file__).resolve().parents[3]
FILES = {  # bundled name -> release name
    "usrnet_tiny.safetensors": "usrnet_tiny.pth",
    "fkp_x2.safetensors": "FKP_x2.pt",
    "fkp_x3.safetensors": "FKP_x3.pt",
    "fkp_x4.safetensors": "FKP_x4.pt",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path,
                        default=ROOT.parent / "shared" / "reference" / "fkp" / "official")
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR)
    args = parser.parse_args()
    pins, release = {}, {}
    for bundled, name in FILES.items():
        src = args.release / name
        sha = file_sha256(src)
        if sha != RELEASE_SHA256[name]:
            raise SystemExit(f"{src} has sha256 {sha}, the release has {RELEASE_SHA256[name]}")
        state = read_state(src)  # hash-checked, weights_only=True, model_state unwrapped
        dst = args.out / bundled
        save_state_dict(state, dst, metadata={
            "source": f"https://github.com/{SOURCE_REPO}", "commit": SOURCE_COMMIT,
            "release_file": f"data/pretrained_models/{name}", "release_sha256": sha,
            "license": "Apache-2.0"})
        pins[bundled] = file_sha256(dst)
        release[bundled] = {"release_file": f"data/pretrained_models/{name}",
                            "release_sha256": sha, "source": SOURCE_REPO,
                            "commit": SOURCE_COMMIT}
        print(f"{src} -> {dst} ({len(state)} tensors, sha256 {pins[bundled]})")
    (args.out / "sha256.json").write_text(json.dumps(pins, indent=2) + "\n")
    (args.out / "release.json").write_text(json.dumps(release, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Re-encode KAIR's SRMD PCA matrix as the safetensors file the plugin ships.

The plugin needs KAIR's ``P`` (15×225, float32) at run time, but the project ships no
upstream file byte for byte. This script reads ``P`` from KAIR's
``kernels/srmd_pca_matlab.mat`` (MIT licence; its sha256 is checked so only that file is
converted) and writes the same values, unchanged, as tensor ``P`` of
``bsrbench_srmd/srmd_pca.safetensors`` with the provenance in the file's metadata. The
output is deterministic, so rerunning it reproduces the sha256 pinned in
``bsrbench_srmd.kernel_map.PCA_SHA256``.

Usage (from the repository root)::

    PYTHONPATH=.:plugins/srmd python plugins/srmd/scripts/convert_pca.py \\
        path/to/srmd_pca_matlab.mat [--out plugins/srmd/bsrbench_srmd/srmd_pca.safetensors]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bsrbench_srmd.kernel_map import PCA_FILE, PCA_KEY, SOURCE_MAT_SHA256, read_pca_mat

from bsrbench.errors import InputError
from bsrbench.weights import file_sha256, save_state_dict

log = logging.getLogger("convert_pca")

# One metadata entry only: safetensors writes its metadata map in hash order, so several
# entries would make the output bytes (and the pinned sha256) vary from run to run.
METADATA = {
    "provenance": (
        "P from cszn/KAIR kernels/srmd_pca_matlab.mat (git blob "
        f"8fb2f8c128c9d14b540f99f350797a1d39606e8d, sha256 {SOURCE_MAT_SHA256}), MATLAB single "
        "15x225, values unchanged; MIT licence, Copyright (c) 2019 Kai Zhang; "
        "use as P @ kernel15x15 flattened column-major (Fortran order)"
    )
}


def convert(mat: Path, out: Path) -> str:
    """Write ``P`` from ``mat`` to ``out`` as safetensors and return the output's sha256.

    Raises:
        InputError: ``mat`` is not KAIR's srmd_pca_matlab.mat.
    """
    actual = file_sha256(mat)
    if actual != SOURCE_MAT_SHA256:
        raise InputError(f"{mat} has sha256 {actual}: pass KAIR's unmodified srmd_pca_matlab.mat")
    save_state_dict({PCA_KEY: read_pca_mat(mat)}, out, metadata=METADATA)
    return file_sha256(out)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, convert, and log the sha256 to pin in kernel_map.PCA_SHA256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mat", type=Path, help="KAIR's kernels/srmd_pca_matlab.mat")
    parser.add_argument("--out", type=Path, default=PCA_FILE, help="output .safetensors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("wrote %s sha256 %s", args.out, convert(args.mat, args.out))


if __name__ == "__main__":
    main()

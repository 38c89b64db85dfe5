"""IKC's loop on held-out training photos: code L2 and PSNR per step (Gaussian8 x4 widths).

The check the model card uses to pick Corrector weights before any test set is run:
the last 8 photos of SunHays80 (by name; the ones training holds out), centre 192x192 HR
crops, the eight Gaussian8 x4 widths (linspace(1.8, 3.2, 8)), matlab-bicubic, bf16
autocast on the CPU as in training. Besides the loop from the Predictor's estimate it runs
the loop from the *true* code and prints its code L2 after each step: the floor the
Corrector drifts to when it is handed a correct code (a Corrector with a high floor cannot
lower the kernel error where the Predictor is already good). ``--corrector`` takes
exported Corrector files or training checkpoints (``checkpoint.pt`` of a Corrector run, or
copies of it). Usage:

    python scripts/ikc_heldout_check.py --hr ../shared/data/SunHays80 \
        --weights plugins/ikc/bsrbench_ikc/weights [--corrector FILE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from bsrbench_ikc.checkpoints import (
    load_corrector,
    load_predictor,
    load_sftmd,
    load_state_into,
)
from bsrbench_ikc.pca import load_pca

from bsrbench.kernels import gaussian_kernel
from bsrbench.metrics import score
from bsrbench.training import load_hr_images, make_pairs, split_validation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hr", required=True, help="SunHays80 folder")
    ap.add_argument("--weights", required=True, help="folder with sftmd/predictor/pca x4")
    ap.add_argument(
        "--corrector",
        nargs="*",
        help="Corrector files or Corrector training checkpoints (default: the folder's)",
    )
    ap.add_argument("--steps", type=int, default=7)
    args = ap.parse_args()
    w = Path(args.weights)
    cl = torch.channels_last
    sftmd = load_sftmd(w / "sftmd_x4.safetensors", 4).eval().to(memory_format=cl)
    predictor = load_predictor(w / "predictor_x4.safetensors").eval().to(memory_format=cl)
    encode = load_pca(w / "pca_x4.safetensors").encode
    _, held_out = split_validation(
        load_hr_images(args.hr, device="cpu", min_size=192), None, hold_out=8
    )
    hr, kernels = [], []
    for img in held_out:
        h, w_ = img.shape[-2:]
        top, left = (h - 192) // 2, (w_ - 192) // 2
        for sigma in torch.linspace(1.8, 3.2, 8).tolist():
            hr.append(img[:, top : top + 192, left : left + 192])
            kernels.append(gaussian_kernel(sigma, size=21))
    pairs = make_pairs(torch.stack(hr), torch.stack(kernels).float(), 4, "matlab-bicubic")
    lr, true = pairs.lr.contiguous(memory_format=cl), encode(pairs.kernels)

    def amp() -> torch.autocast:
        return torch.autocast("cpu", torch.bfloat16)

    def psnr(code: torch.Tensor) -> tuple[torch.Tensor, float]:
        with torch.inference_mode(), amp():
            sr = sftmd(lr, code).float().clamp(0, 1)
        return sr, float(score(sr, pairs.hr_u8, scale=4)["psnr"].mean())

    def loop(corrector: torch.nn.Module, est: torch.Tensor) -> tuple[list[float], list[float]]:
        l2, db = [], []
        for step in range(args.steps + 1):
            l2.append(float((est - true).norm(dim=1).mean()))
            sr, value = psnr(est)
            db.append(value)
            if step < args.steps:
                with torch.inference_mode(), amp():
                    est = corrector(sr.contiguous(memory_format=cl), est).float()
        return l2, db

    print(f"SFTMD with the true codes: {psnr(true)[1]:.2f} dB")
    for path in args.corrector or [str(w / "corrector_x4.safetensors")]:
        corrector = _corrector(Path(path)).eval().to(memory_format=cl)
        with torch.inference_mode(), amp():
            start = predictor(lr).float()
        l2, db = loop(corrector, start)
        floor, _ = loop(corrector, true.clone())
        print(path)
        print("  code L2 " + " ".join(f"{v:.4f}" for v in l2))
        print("  PSNR    " + " ".join(f"{v:.2f}" for v in db))
        print("  code L2 from the true code " + " ".join(f"{v:.4f}" for v in floor[1:]))


def _corrector(path: Path) -> torch.nn.Module:
    """An exported Corrector, or the network of a Corrector training checkpoint."""
    if path.suffix != ".pt":
        return load_corrector(path)
    from bsrbench_ikc.archs import Corrector

    from bsrbench.training.checkpoint import load_checkpoint

    model = Corrector()
    load_state_into(model, load_checkpoint(path)["task"]["net"], str(path))
    return model


if __name__ == "__main__":
    main()

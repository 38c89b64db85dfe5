"""IKC: Blind Super-Resolution With Iterative Kernel Correction (Gu et al., CVPR 2019).

Provides the blind method ``ikc`` (Predictor → SFTMD → t × (Corrector → SFTMD)), the
non-blind model ``sftmd``, and the estimators ``ikc.predictor`` and ``ikc``. Networks and
weights load lazily in the factories of :mod:`bsrbench_ikc.method`; this module imports
only bsrbench.
"""

from __future__ import annotations

from typing import Any

from bsrbench import EstimatorSpec, MethodSpec, ModelSpec, OptionSpec, hookimpl

__version__ = "0.1.0"

PAPER = ("Gu, Lu, Zuo, Dong, Blind Super-Resolution With Iterative Kernel Correction, "
         "CVPR 2019")
LICENSE = "MIT (bsrbench implementation and bundled weights); official IKC code: none stated"
SCALES = (2, 3, 4)
STEPS = OptionSpec("steps", int, 7,
                   "SR images per LR as the official test_IKC.py counts them (its `step: 7`): "
                   "the Predictor's, then steps-1 Corrector corrections")


def _bundled(*parts: str) -> Any:
    def available(scale: int) -> bool:
        from bsrbench_ikc.checkpoints import weights_available

        return weights_available(scale, (*parts, "pca"))

    return available


# Shown beside every result made with the bundled weights (summary, report, run.json).
BUNDLED_NOTE = ("bundled IKC x4 weights are bsrbench's own short CPU training (about 8 h on "
                "2 cores), not the authors' release: about 2.7 dB below the paper on Set5 "
                "Gaussian8 x4 (bsrbench published -m ikc; model card: "
                "plugins/ikc/bsrbench_ikc/weights/MODEL_CARD.md); official weights: "
                "bsrbench weights list")


def _pins(*parts: str) -> Any:
    def pins(scale: int) -> dict[str, str]:
        from pathlib import Path

        from bsrbench.weights import bundled_pins

        names = [f"{p}_x{scale}.safetensors" for p in (*parts, "pca")]
        return bundled_pins(Path(__file__).parent / "weights", names, "bsrbench_ikc/weights")

    return pins


def _factory(name: str) -> Any:
    def build(ctx: Any) -> Any:
        from bsrbench_ikc import method

        return getattr(method, name)(ctx)

    build.__name__ = name
    return build


@hookimpl
def bsrbench_methods() -> list[MethodSpec]:
    return [MethodSpec(
        name="ikc",
        summary="IKC: Predictor, then Corrector -> SFTMD; 7 SR steps as the official script",
        paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_method"),
        options=(STEPS,), weights_available=_bundled("sftmd", "predictor", "corrector"),
        bundled_pins=_pins("sftmd", "predictor", "corrector"), iterative=True,
        bundled_note=BUNDLED_NOTE,
    )]


@hookimpl
def bsrbench_models() -> list[ModelSpec]:
    return [ModelSpec(
        name="sftmd",
        summary="SFTMD: SRResNet with SFT layers driven by the kernel's PCA code (non-blind)",
        paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_sftmd"),
        kernel_size=21, kernel_conversion="center-crop",
        weights_available=_bundled("sftmd"), bundled_pins=_pins("sftmd"),
        bundled_note=BUNDLED_NOTE,
    )]


@hookimpl
def bsrbench_estimators() -> list[EstimatorSpec]:
    return [
        EstimatorSpec(
            name="ikc.predictor",
            summary="IKC Predictor alone: one PCA-code estimate from the LR image",
            paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_predictor"),
            kernel_size=21, weights_available=_bundled("predictor"),
            bundled_pins=_pins("predictor"), bundled_note=BUNDLED_NOTE,
        ),
        EstimatorSpec(
            name="ikc",
            summary="IKC Predictor + Corrector loop (with its own SFTMD); one estimate per step",
            paper=PAPER, license=LICENSE, scales=SCALES,
            factory=_factory("build_ikc_estimator"), kernel_size=21, options=(STEPS,),
            weights_available=_bundled("sftmd", "predictor", "corrector"), iterative=True,
            bundled_pins=_pins("sftmd", "predictor", "corrector"), bundled_note=BUNDLED_NOTE,
        ),
    ]


@hookimpl
def bsrbench_train_commands() -> list[Any]:
    from bsrbench_ikc.train import ikc_command

    return [ikc_command()]

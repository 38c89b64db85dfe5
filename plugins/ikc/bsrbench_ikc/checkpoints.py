"""Finding, loading and saving IKC weights in the official and the bsrbench layout.

A weights folder holds four parts: SFTMD, Predictor, Corrector and the kernel PCA. Each part
is looked up first under its bsrbench name, then under its official name, so a folder may
also mix the two (say, a self-trained ``sftmd_x4.safetensors`` beside the released
Predictor and Corrector, since the official SFTMD checkpoint is hard to get):

============  =================================  =====================================
part          bsrbench layout                     official layout (×4 only)
============  =================================  =====================================
sftmd         ``sftmd_x{s}.safetensors``          ``SFTMD*.pth``
predictor     ``predictor_x{s}.safetensors``      ``Predictor*.pth``
corrector     ``corrector_x{s}.safetensors``      ``Corrector*.pth``
pca           ``pca_x{s}.safetensors`` or         ``pca_matrix.pth``
              ``pca.safetensors``
============  =================================  =====================================

The release keeps ``pca_matrix.pth`` in ``codes/``, away from its checkpoints: a ×4 folder
with official checkpoints and no PCA file uses the bundled ``pca_x4.safetensors``, the
same matrix rebuilt by the official recipe.

Loading is strict: a leading ``module.`` is stripped and SFTMD's never-used ``sft_branch.*``
keys are dropped silently (FACTS.md §8); any other missing or unexpected key is an error
that names it. bsrbench files carry their architecture in the safetensors metadata, so
smaller or larger nets load without extra arguments.

This module imports torch only inside functions, so :func:`weights_available` is cheap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import WeightsError

if TYPE_CHECKING:
    from torch import Tensor, nn

    from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
    from bsrbench_ikc.pca import KernelPCA

__all__ = [
    "BUNDLED_DIR",
    "PARTS",
    "IKCWeightPaths",
    "find_weights",
    "load_corrector",
    "load_predictor",
    "load_sftmd",
    "load_state_into",
    "resolve_weights",
    "save_weights",
    "weights_available",
]

log = logging.getLogger("bsrbench")

BUNDLED_DIR = Path(__file__).resolve().parent / "weights"
# sha256 of the official IKC release files (yuanjunchai/IKC), checked whenever a file of
# that name is loaded; bundled files are pinned by weights/sha256.json.
OFFICIAL_SHA256 = {
    "Predictor_latest_G.pth": "76dab4120c53e849afa8ccf2e37ee354ff230ed5a5d9e47736ad29881d497a33",
    "Corrector_latest_G.pth": "2b498926fbec6fe84a21124a7d359fc1bbdb1cb179e97a90636bd119d0fecd93",
    "pca_matrix.pth": "0352064a3fc86bf037f336af4a0bb81d3412f26f3522c7c7fa27c96e25375b36",
}
PARTS = ("sftmd", "predictor", "corrector", "pca")
OFFICIAL_SCALE = 4  # the official release ships ×4 weights only
FORMAT = "bsrbench-ikc"
_OFFICIAL = {
    "sftmd": "SFTMD*.pth",
    "predictor": "Predictor*.pth",
    "corrector": "Corrector*.pth",
    "pca": "pca_matrix.pth",
}
_DROPPED_PREFIX = "sft_branch."
_HOW_TO = (
    "pass --weights DIR with the official release (SFTMD*.pth, Predictor*.pth, "
    "Corrector*.pth, pca_matrix.pth; ×4 only) or bsrbench files "
    "(sftmd_x{s}.safetensors, predictor_x{s}.safetensors, corrector_x{s}.safetensors, "
    "pca_x{s}.safetensors), or train them with `bsrbench train ikc`"
)


@dataclass(frozen=True)
class IKCWeightPaths:
    """Where each requested part of an IKC weights folder is; None for parts not asked for."""

    directory: Path  # the folder that was searched
    scale: int  # the SR factor the files are for
    sftmd: Path | None = None  # SFTMD weights (.safetensors or official .pth)
    predictor: Path | None = None  # Predictor weights
    corrector: Path | None = None  # Corrector weights
    pca: Path | None = None  # kernel PCA (pca_x{s}/pca.safetensors or pca_matrix.pth)

    @property
    def layout(self) -> str:
        """The layout of the files found: bsrbench, official or mixed."""
        kinds = {p.suffix == ".safetensors" for p in self.files()}
        if len(kinds) > 1:
            return "mixed"
        return "bsrbench" if kinds == {True} else "official"

    def files(self) -> list[Path]:
        """The files found, in part order (for provenance records)."""
        found = (self.sftmd, self.predictor, self.corrector, self.pca)
        return [p for p in found if p is not None]


def _bsrbench_names(part: str, scale: int) -> tuple[str, ...]:
    if part == "pca":
        return (f"pca_x{scale}.safetensors", "pca.safetensors")
    return (f"{part}_x{scale}.safetensors",)


def _find_part(directory: Path, part: str, scale: int) -> Path | None:
    for name in _bsrbench_names(part, scale):
        if (directory / name).is_file():
            return directory / name
    if scale != OFFICIAL_SCALE:
        return None
    matches = sorted(p for p in directory.glob(_OFFICIAL[part]) if p.is_file())
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise WeightsError(
            f"{directory} has several {part} checkpoints ({names}): keep one, or save it as "
            f"{_bsrbench_names(part, scale)[0]}"
        )
    return matches[0] if matches else None


def find_weights(directory: str | Path, scale: int, parts: Sequence[str] = PARTS) -> IKCWeightPaths:
    """Locate the requested parts of an IKC weights folder for ``scale``.

    Raises:
        WeightsError: the folder does not exist, is a file, or lacks some parts; the
            message lists every missing part with the file names that would satisfy it.
    """
    directory = Path(directory)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown IKC weight parts {unknown}; known: {PARTS}")
    if directory.is_file():
        raise WeightsError(
            f"IKC needs a weights folder, not the file {directory}: pass --weights DIR "
            "holding the SFTMD, Predictor, Corrector and PCA files"
        )
    if not directory.is_dir():
        raise WeightsError(f"IKC weights folder {directory} not found: {_how_to(scale)}")
    paths = {part: _find_part(directory, part, scale) for part in parts}
    if "pca" in paths and paths["pca"] is None:
        paths["pca"] = _official_pca_fallback(directory, paths, scale)
    found = {part: path for part, path in paths.items() if path is not None}
    missing = []
    for part in parts:
        if part not in found:
            names = " or ".join(_bsrbench_names(part, scale))
            if scale == OFFICIAL_SCALE:
                names += f" or {_OFFICIAL[part]}"
            missing.append(f"{part} ({names})")
    if missing:
        note = "" if scale == OFFICIAL_SCALE else " (official-layout files are ×4 only)"
        raise WeightsError(f"{directory} lacks IKC ×{scale} weights: {'; '.join(missing)}{note}")
    return IKCWeightPaths(directory=directory, scale=scale, **found)


def _official_pca_fallback(directory: Path, paths: Mapping[str, Path | None],
                           scale: int) -> Path | None:
    """The bundled copy of the official PCA, for a folder of official checkpoints alone.

    The release keeps ``pca_matrix.pth`` in ``codes/``, away from its checkpoints, so a
    folder holding only ``Predictor*.pth``/``Corrector*.pth``/``SFTMD*.pth`` gets the
    matrix those were trained with: ``pca_x4.safetensors``, rebuilt by the official recipe
    (equal to the released file to 4e-9, same column signs; tested).
    """
    if scale != OFFICIAL_SCALE:
        return None
    official = [p for p in paths.values() if p is not None and p.suffix == ".pth"]
    bundled = BUNDLED_DIR / f"pca_x{scale}.safetensors"
    if not official or not bundled.is_file():
        return None
    log.info("%s has no pca_matrix.pth: using bsrbench's copy of the official PCA (%s)",
             directory, bundled.name)
    return bundled


def _how_to(scale: int) -> str:
    return _HOW_TO.replace("{s}", str(scale))


def weights_available(scale: int, parts: Sequence[str] = PARTS) -> bool:
    """True when the bundled folder holds ``parts`` (default: all four) for ``scale``.

    Every factory needs the PCA besides its networks: the ``sftmd`` model needs
    ``("sftmd", "pca")`` and ``ikc.predictor`` needs ``("predictor", "pca")``.
    """
    try:
        find_weights(BUNDLED_DIR, scale, parts)
    except WeightsError:
        return False
    return True


def resolve_weights(
    weights: str | Path | None, scale: int, parts: Sequence[str] = PARTS
) -> IKCWeightPaths:
    """Find weights in the user's folder, or in the bundled one when ``weights`` is None."""
    if weights is not None:
        return find_weights(weights, scale, parts)
    try:
        return find_weights(BUNDLED_DIR, scale, parts)
    except WeightsError:
        raise WeightsError(f"IKC ×{scale} weights are not bundled: {_how_to(scale)}") from None


# ----------------------------------------------------------------------------- loading


def _short(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"[{shown}]{more}"


def load_state_into(module: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Load ``state`` into ``module`` strictly, after IKC's two allowed key fixes.

    A leading ``module.`` (DataParallel) is stripped and ``sft_branch.*`` keys are dropped
    without a warning: the official SFTMD builds that branch but never calls it.

    Raises:
        WeightsError: keys missing or unexpected (named), or a shape mismatch.
    """
    cleaned = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if not key.startswith(_DROPPED_PREFIX):
            cleaned[key] = value
    own = module.state_dict()
    missing = [k for k in own if k not in cleaned]
    unexpected = [k for k in cleaned if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        name = type(module).__name__
        raise WeightsError(
            f"{source} does not fit IKC {name}: {'; '.join(parts)}: check that it is a {name} "
            "checkpoint of the expected size"
        )
    for key, value in own.items():
        if tuple(cleaned[key].shape) != tuple(value.shape):
            raise WeightsError(
                f"{source}: key {key!r} has shape {tuple(cleaned[key].shape)} in the file but "
                f"{tuple(value.shape)} in IKC {type(module).__name__}"
            )
    module.load_state_dict(cleaned, strict=True)


def _metadata(path: Path) -> dict[str, str]:
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for bad files
        raise WeightsError(f"{path} is not a valid safetensors file: {exc}") from None


def _config(path: Path, part: str, allowed: Sequence[str]) -> dict[str, Any]:
    meta = _metadata(path)
    if meta.get("part", part) != part:
        raise WeightsError(f"{path} holds IKC {meta['part']} weights, not {part}")
    if "config" not in meta:
        return {}
    try:
        config = json.loads(meta["config"])
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: its 'config' metadata is not valid JSON") from None
    bad = sorted(set(config) - set(allowed)) if isinstance(config, dict) else ["<not a dict>"]
    if bad:
        raise WeightsError(f"{path}: unknown {part} config keys {bad} in its metadata")
    return config


def _sftmd_scale(state: Mapping[str, Tensor], source: str) -> int:
    """The SR factor of SFTMD weights, from the upsampler's shapes."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if "upscale.0.weight" not in state or "conv1.weight" not in state:
        raise WeightsError(f"{source} lacks key 'upscale.0.weight' or 'conv1.weight': not SFTMD")
    if "upscale.3.weight" in state:
        return 4
    ratio = state["upscale.0.weight"].shape[0] // state["conv1.weight"].shape[0]
    return round(ratio**0.5)


def load_sftmd(path: str | Path, scale: int) -> SFTMD:
    """Build SFTMD from a checkpoint and check it is for ``scale``."""
    from bsrbench.weights import load_state_dict
    from bsrbench_ikc.archs import SFTMD

    path = Path(path)
    config = _config(
        path, "sftmd", ("in_nc", "out_nc", "nf", "nb", "scale", "input_para", "sft_hidden")
    )
    state = load_state_dict(path, known=OFFICIAL_SHA256)
    found = _sftmd_scale(state, str(path))
    if found != scale:
        raise WeightsError(
            f"{path} holds ×{found} SFTMD weights, but the run is ×{scale}: use weights "
            f"trained for ×{scale}"
        )
    model = SFTMD(**{**config, "scale": scale})
    load_state_into(model, state, str(path))
    return model.eval()


def load_predictor(path: str | Path) -> Predictor:
    """Build the Predictor from a checkpoint."""
    from bsrbench.weights import load_state_dict
    from bsrbench_ikc.archs import Predictor

    path = Path(path)
    model = Predictor(**_config(path, "predictor", ("in_nc", "nf", "code_len")))
    load_state_into(model, load_state_dict(path, known=OFFICIAL_SHA256), str(path))
    return model.eval()


def load_corrector(path: str | Path) -> Corrector:
    """Build the Corrector from a checkpoint."""
    from bsrbench.weights import load_state_dict
    from bsrbench_ikc.archs import Corrector

    path = Path(path)
    model = Corrector(**_config(path, "corrector", ("in_nc", "nf", "code_len")))
    load_state_into(model, load_state_dict(path, known=OFFICIAL_SHA256), str(path))
    return model.eval()


# ------------------------------------------------------------------------------ saving


def save_weights(
    directory: str | Path,
    scale: int,
    *,
    sftmd: SFTMD | None = None,
    predictor: Predictor | None = None,
    corrector: Corrector | None = None,
    pca: KernelPCA | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Save the given parts in the bsrbench layout, the format the bundled weights use.

    Each file records its part, scale and architecture in the safetensors metadata, plus
    the caller's ``metadata`` (e.g. training data, iterations, git commit).

    Returns:
        The path written for each part.
    """
    from bsrbench.weights import save_state_dict

    directory = Path(directory)
    extra = {str(k): str(v) for k, v in (metadata or {}).items()}
    written: dict[str, Path] = {}
    modules = {"sftmd": sftmd, "predictor": predictor, "corrector": corrector}
    for part, module in modules.items():
        if module is None:
            continue
        if part == "sftmd" and getattr(module, "scale", scale) != scale:
            raise WeightsError(f"this SFTMD is ×{module.scale}, not ×{scale}: nothing saved")
        meta = {
            **extra,
            "format": FORMAT,
            "part": part,
            "scale": str(scale),
            "config": json.dumps(module.config, sort_keys=True),
        }
        path = directory / _bsrbench_names(part, scale)[0]
        save_state_dict(module.state_dict(), path, meta)
        written[part] = path
    if pca is not None:
        meta = {**extra, "format": FORMAT, "part": "pca", "scale": str(scale)}
        path = directory / _bsrbench_names("pca", scale)[0]
        save_state_dict(pca.state_dict(), path, meta)
        written["pca"] = path
    return written

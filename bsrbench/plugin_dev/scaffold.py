"""``bsrbench new-plugin``: generate a separate, installable plugin package.

The package ``bsrbench-NAME`` holds the import package ``bsrbench_NAME`` (a minimal but
working method, kernel estimator, degradation or metric), its own ``pyproject.toml`` with the
``bsrbench`` entry point, a README, and tests that run the conformance suite of
:mod:`bsrbench.plugin_dev.pytest_plugin`. The templates live in ``templates/plugin`` beside
this module.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from bsrbench.errors import InputError

__all__ = ["KINDS", "check_plugin_name", "create_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class _Kind:
    summary: str  # the package description
    description: str  # the README's "What it does"
    list_command: str  # the bsrbench command that lists it
    run_command: str  # how to benchmark it
    registry_kinds: tuple[str, ...]  # registry tables its name must not clash with


KINDS: dict[str, _Kind] = {
    "method": _Kind(
        "An unsharp-masked bicubic upsampler: a bsrbench blind SR method plugin.",
        "MATLAB bicubic upsampling followed by an unsharp mask, "
        "`sr = up + amount * (up - gaussian_blur(up))`, clamped to [0, 1]. Options: "
        "`-O amount=0.5` (0 gives plain bicubic) and `-O sigma=1.0` (the blur width in SR "
        "pixels).",
        "methods",
        "bsrbench run --method $name --dataset gaussian8",
        ("method", "model"),
    ),
    "estimator": _Kind(
        "A fixed-width Gaussian kernel guess: a bsrbench kernel-estimator plugin.",
        "It ignores the image and yields one isotropic 21x21 Gaussian per LR image, of width "
        "1.2 at x2, 1.875 at x3 and 2.5 at x4 (LR pixels): the middle of each scale's "
        "Gaussian8 range (IKC, CVPR 2019, Sec. 4.1). `-O sigma=S` fixes another width. It "
        "is a baseline for real estimators, composed with a non-blind model.",
        "methods",
        "bsrbench run --method srmd --kernel $name --dataset gaussian8  # needs SRMD weights",
        ("estimator",),
    ),
    "degradation": _Kind(
        "Area-average downsampling rounded to 8 bits: a bsrbench degradation plugin.",
        "Each scale x scale cell of the blurred HR image is averaged (in float64) and the "
        "result rounded half away from zero to uint8, giving the LR image of a test set.",
        "plugins",
        "bsrbench run --method bicubic --dataset gaussian8 --downsampler $name",
        ("degradation",),
    ),
    "metric": _Kind(
        "GMSD, gradient magnitude similarity deviation: a bsrbench metric plugin.",
        "GMSD (Xue, Zhang, Mou, Bovik, IEEE TIP 2014): the standard deviation of the "
        "similarity of Prewitt gradient magnitudes of SR and HR after a 2x2 average and "
        "downsampling by 2. 0 for identical images, larger is worse (`higher_better=False`, "
        "so reports bold the lowest value). Its `factory` builds the scoring function once "
        "per run; a metric that needs weights refuses there in one line when they are "
        "missing. `default=False`: it is scored when `--metrics` names it.",
        "plugins",
        "bsrbench run --method bicubic --dataset gaussian8 --metrics psnr,ssim,$name",
        ("metric",),
    ),
}


def check_plugin_name(name: str) -> str:
    """Return ``name`` if it can name a plugin package, else raise :class:`InputError`.

    The name becomes the import package ``bsrbench_NAME`` and the registry name, so it must
    be a lowercase Python identifier.
    """
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise InputError(f"plugin name {name!r} is invalid: use a lowercase identifier "
                         "([a-z][a-z0-9_]*, e.g. 'mysr' or 'my_sr')")
    return name


def _render(template: str, values: dict[str, str]) -> str:
    folder = resources.files("bsrbench.plugin_dev").joinpath("templates", "plugin")
    text = folder.joinpath(template).read_text()
    return Template(text).substitute(values)


def create_plugin(name: str, kind: str = "method", directory: str | Path = ".", *,
                  registered: set[str] | None = None) -> Path:
    """Write the package ``DIR/bsrbench-NAME`` and return its folder.

    Args:
        name: the plugin name: registry name, entry-point name and ``bsrbench_NAME``.
        kind: one of :data:`KINDS` (``"method"``, ``"estimator"``, ``"degradation"``,
            ``"metric"``).
        directory: where the package folder is created.
        registered: names already registered in the tables of this kind; a clash is an
            error because the installed plugin would be reported as a duplicate.

    Raises:
        InputError: an invalid name or kind, a name already registered, or an existing
            package folder (nothing is overwritten).
    """
    check_plugin_name(name)
    if kind not in KINDS:
        raise InputError(f"unknown plugin kind {kind!r}: use one of {', '.join(KINDS)}")
    if registered and name in registered:
        raise InputError(f"a {kind} named {name!r} is already registered; choose another name")
    spec = KINDS[kind]
    root = Path(directory) / f"bsrbench-{name}"
    if root.exists():
        raise InputError(f"{root} already exists; remove it or choose another name or --dir")
    from bsrbench import __version__

    values = {
        "name": name,
        "dist": f"bsrbench-{name}",
        "package": f"bsrbench_{name}",
        "kind": kind,
        "bsrbench_version": __version__,
        "summary": spec.summary,
        "description": spec.description,
        "list_command": spec.list_command,
        "run_command": Template(spec.run_command).substitute(name=name),
    }
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"bsrbench_{name}/__init__.py": f"{kind}/__init__.py.tmpl",
        "tests/conftest.py": "conftest.py.tmpl",
        f"tests/test_{name}.py": f"{kind}/test_plugin.py.tmpl",
    }
    rendered = {path: _render(tmpl, values) for path, tmpl in files.items()}
    for path, text in rendered.items():
        out = root / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return root

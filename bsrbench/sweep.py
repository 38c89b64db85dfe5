"""Sweeps: every method x kernel x dataset x HR set x scale into one run directory.

``bsrbench run`` always runs a sweep; a single method on a single dataset is the sweep of
one. Settings come from ``--config FILE.toml`` and the command line (the command line wins);
unknown keys in the file are an error. All method plans are validated before any work, so
a typo fails at once, not after an hour of computing.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, Interrupted

if TYPE_CHECKING:
    from bsrbench.executors import ExecutorConfig
    from bsrbench.registry import Registry
    from bsrbench.runner import RunConfig

__all__ = ["SweepConfig", "SweepResult", "check_hr_folder", "run_sweep"]

log = logging.getLogger("bsrbench")


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


@dataclass(frozen=True)
class SweepConfig:
    """What to run. Lists sweep; every combination goes into one results.csv."""

    methods: tuple[str, ...]  # blind methods and/or non-blind models
    datasets: tuple[str, ...]  # protocol names or .h5 files
    kernels: tuple[str, ...] = ()  # estimators, applied to every non-blind model
    hr: tuple[str, ...] = ()  # HR folders for protocols; empty = the embedded set
    scales: tuple[int, ...] = ()  # empty = each protocol's default (4)
    downsampler: str = "matlab-bicubic"
    noise: float = 0.0
    seed: int = 0
    jpeg: int | None = None  # JPEG quality of the LR images (a degradation stage); None: none
    draws: Path | None = None  # rebuild generator protocols from recorded draws (JSON)
    device: str = "auto"
    out: Path | None = None
    weights: Path | None = None
    kernel_weights: Path | None = None
    iterations: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # -O NAME=VALUE
    convention: str = "matlab-y"
    batch_size: int | str = "auto"  # or LR images per pass (bsrbench.batching)
    cache_dir: Path | None = None
    save_images: bool = False
    metrics: tuple[str, ...] | None = None  # --metrics; None: every default metric
    tile: int | None = None  # --tile: LR tile side (bsrbench.tiling); None: whole images
    tile_overlap: int | None = None  # --tile-overlap; None: each part's receptive field
    max_memory_mb: float | None = None  # CPU memory cap of the runner's fallback
    executor: str = "local"  # --executor: local or ray (bsrbench.executors)
    ray_address: str | None = None  # --ray-address of a running Ray cluster
    ray_shard: int | None = None  # --ray-shard: HR images per Ray task (None: automatic)
    command: str = ""

    @classmethod
    def from_sources(cls, config: Path | None, cli: Mapping[str, Any],
                     options: Mapping[str, Any]) -> SweepConfig:
        """Merge a TOML file and CLI values (CLI wins; None means "not given")."""
        values: dict[str, Any] = {}
        if config is not None:
            values.update(_read_toml(config))
        renames = {"method": "methods", "dataset": "datasets", "kernel": "kernels",
                   "scale": "scales"}
        for key, value in cli.items():
            if value is not None:
                values[renames.get(key, key)] = value
        merged_opts = dict(values.pop("options", {}) or {})
        merged_opts.update(options)
        for key, flag in (("kernels", "--kernel"), ("hr", "--hr"), ("scales", "--scale")):
            if values.get(key) is not None and not _split(values[key]):
                # given but empty ('' from a shell variable): never silently the default
                raise InputError(f"{flag} is empty: give a value, or leave {flag} out for "
                                 "the default")
        for key in ("methods", "datasets", "kernels", "hr"):
            values[key] = tuple(_split(values.get(key)))
        if values.get("metrics") is not None:
            values["metrics"] = tuple(_split(values["metrics"]))
        values["scales"] = tuple(_scale(s) for s in _split(values.get("scales")))
        if not values["methods"]:
            raise InputError("no method given: pass --method NAME (or methods in --config)")
        if not values["datasets"]:
            raise InputError("no dataset given: pass --dataset gaussian8 (or datasets in "
                             "--config)")
        for key in ("out", "weights", "kernel_weights", "cache_dir", "draws"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(options=merged_opts, **values)

    def __post_init__(self) -> None:
        """Refuse values no run could use, before any work (also for library callers)."""
        from bsrbench.batching import check_batch_size
        from bsrbench.datasets import check_jpeg, check_noise, check_seed

        check_noise(self.noise)
        check_seed(self.seed)
        check_jpeg(self.jpeg)
        if self.draws is not None and not Path(self.draws).is_file():
            raise InputError(f"--draws {self.draws} is not a file: pass a draws JSON "
                             "(docs/protocols.md; `bsrbench datasets export-draws` writes one)")
        # "auto" or a positive int; '8' from a TOML string becomes 8
        object.__setattr__(self, "batch_size", check_batch_size(self.batch_size))
        for scale in self.scales:
            _scale(scale)
        for key, flag in (("methods", "--method"), ("datasets", "--dataset"),
                          ("kernels", "--kernel"), ("hr", "--hr"), ("scales", "--scale")):
            items = [str(v) for v in getattr(self, key)]
            twice = sorted({v for v in items if items.count(v) > 1})
            if twice:
                raise InputError(f"{flag} names {twice[0]!r} twice: give each once")
        self.executor_config  # noqa: B018 - validates --executor/--ray-address

    @property
    def executor_config(self) -> ExecutorConfig:
        """The executor settings (validated)."""
        from bsrbench.executors import ExecutorConfig

        return ExecutorConfig(self.executor, self.ray_address, self.device,
                              shard_images=self.ray_shard)

    def with_command(self, command: str) -> SweepConfig:
        return replace(self, command=command)


def _scale(value: Any) -> int:
    """A scale as a positive int: '4' and 4 pass; '', '4.0', 0, -4 and True do not."""
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InputError(f"scale must be a positive integer such as 4, got {value!r}")
    return int(text)


def _read_toml(path: Path) -> dict[str, Any]:
    if Path(path).is_dir():
        raise InputError(f"config file {path} is a folder: pass a TOML file")
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
    except UnicodeDecodeError:
        raise InputError(f"config file {path} is not text (UTF-8): pass a TOML file") from None
    except OSError as exc:
        raise InputError(f"cannot read config file {path} ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    allowed = {f.name for f in fields(SweepConfig)} - {"command"}
    aliases = {"method", "dataset", "kernel", "scale"}
    unknown = sorted(set(data) - allowed - aliases)
    if unknown:
        raise InputError(f"config file {path}: unknown key {unknown[0]!r} "
                         f"(known: {', '.join(sorted(allowed))})")
    renames = {"method": "methods", "dataset": "datasets", "kernel": "kernels",
               "scale": "scales"}
    out = {renames.get(k, k): v for k, v in data.items()}
    for key, value in out.items():
        types = _TOML_TYPES.get(key, object)
        types = types if isinstance(types, tuple) else (types,)
        # bool is an int in Python; TOML's true/false is only right where bool is asked for
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise InputError(f"config file {path}: {key} must be {names}, got "
                             f"{type(value).__name__} {value!r}")
    return out


_LIST = (str, list)
# TOML value types of the config keys (lists are comma lists' alternative)
_TOML_TYPES: dict[str, Any] = {
    "methods": _LIST, "datasets": _LIST, "kernels": _LIST, "hr": _LIST, "jpeg": int,
    "draws": str,
    "scales": (int, str, list), "downsampler": str, "noise": (int, float), "seed": int,
    "device": str, "out": str, "weights": str, "kernel_weights": str, "iterations": int,
    "options": dict, "convention": str, "batch_size": (int, str), "cache_dir": str,
    "save_images": bool, "metrics": _LIST,
    "tile": int, "tile_overlap": int, "max_memory_mb": (int, float),
    "executor": str, "ray_address": str, "ray_shard": int,
}


@dataclass
class SweepResult:
    results: Path
    summary: str
    failed: int
    report: Path | None


def _plans(cfg: SweepConfig, registry: Registry, scale: int | None) -> list[Any]:
    from bsrbench.compose import plan_method

    opts = dict(cfg.options)
    if cfg.iterations is not None:
        opts["iterations"] = cfg.iterations
    plans = []
    strict = len(cfg.methods) == 1 and len(cfg.kernels) <= 1
    has_model = any(m in registry.models and m not in registry.methods for m in cfg.methods)
    for method in cfg.methods:
        is_model = method in registry.models and method not in registry.methods
        if is_model or (cfg.kernels and not has_model):
            for kernel in cfg.kernels or (None,):
                plans.append(plan_method(registry, method, kernel, opts if strict else
                                         _only_known(registry, method, kernel, opts), scale))
        else:
            plans.append(plan_method(registry, method, None, opts if strict else
                                     _only_known(registry, method, None, opts), scale))
    return plans


def _only_known(registry: Registry, method: str, kernel: str | None,
                opts: Mapping[str, Any]) -> dict[str, Any]:
    """In a sweep, an option applies to the parts that declare it; in a single run every
    option must be known (plan_method reports the typo)."""
    specs = [s for s in (registry.methods.get(method), registry.models.get(method),
                         registry.estimators.get(kernel) if kernel else None) if s]
    declared = {o.name for s in specs for o in s.options}
    known_anywhere = {o.name for kind in (registry.methods, registry.models,
                                          registry.estimators)
                      for s in kind.values() for o in s.options}
    out = {}
    for key, value in opts.items():
        if key in declared or key not in known_anywhere:
            out[key] = value  # unknown everywhere: let plan_method report it
    return out


def run_sweep(cfg: SweepConfig, registry: Registry, *, quiet: bool = False) -> SweepResult:
    """Run every combination of ``cfg`` into one run directory and write report.html."""
    from bsrbench.device import pick_device
    from bsrbench.metrics import CONVENTIONS
    from bsrbench.results import (
        IMAGES,
        check_out_dir,
        hold_run_folder,
        load_frame,
        read_table,
    )
    from bsrbench.scoring import select_metrics
    from bsrbench.summary import summary_text

    if cfg.convention not in CONVENTIONS:
        raise InputError(f"unknown metric convention {cfg.convention!r}: "
                         f"use one of {', '.join(CONVENTIONS)}")
    if cfg.tile is not None:
        from bsrbench.tiling import Tiling

        Tiling(cfg.tile, cfg.tile_overlap)  # refuses bad sizes before any work
    elif cfg.tile_overlap is not None:
        raise InputError("--tile-overlap needs --tile SIZE")
    for metric in select_metrics(registry, cfg.metrics):  # a metric may refuse: before work
        metric.build()
    for flag, given in (("--weights", cfg.weights), ("--kernel-weights", cfg.kernel_weights)):
        if given is not None and not given.exists():
            raise InputError(f"{flag} {given} not found: pass an existing weights file or "
                             "folder, or leave it out to use the bundled weights")
    scales: tuple[int | None, ...] = cfg.scales or (None,)
    protocols = [d for d in cfg.datasets if not d.endswith((".h5", ".hdf5"))]
    for scale in scales:  # validate every plan before any work
        for plan in _plans(cfg, registry, scale):
            plan.check_kernel_weights(cfg.kernel_weights)
            for name in protocols:  # a file's scale is known only once it is opened
                spec = registry.protocols.get(name)
                plan.check_weights(scale or (spec.default_scale if spec else 4),
                                   cfg.weights, cfg.kernel_weights)
    device = pick_device(cfg.device)
    hrs: tuple[str | None, ...] = cfg.hr or (None,)
    jobs = []
    for dataset in cfg.datasets:
        for hr in hrs if not dataset.endswith((".h5", ".hdf5")) else (None,):
            for scale in scales:
                jobs.append((dataset, hr, scale))
    out = cfg.out
    if out is None:
        plans = _plans(cfg, registry, scales[0])
        label = plans[0].label if len(plans) == 1 else "sweep"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        ds = Path(cfg.datasets[0]).stem if len(cfg.datasets) == 1 else "datasets"
        out = Path("results") / f"{stamp}-{label}-{ds}"
    check_out_dir(out)
    images = out / IMAGES
    if cfg.save_images and images.exists() and not images.is_dir():  # would fail each image
        raise InputError(f"{images} is a file, but --save-images writes a folder there: "
                         "move the file, or pass another --out")
    _check_jobs(cfg, registry, jobs)
    from bsrbench.executors import make_executor

    executor = make_executor(cfg.executor_config)  # Ray missing: refused before any work
    with hold_run_folder(out):
        try:
            failed = executor.run(_tasks(cfg, registry, jobs, out, device, quiet), registry,
                                  out)
        except KeyboardInterrupt as exc:
            raise Interrupted(f"results so far are in {out}; rerun with --out {out} to "
                              "resume") from exc
        results = out / "results.csv"
        report = _write_report(out)
    table = read_table(results)
    text = summary_text(load_frame(table), invalid=len(table.unresolved()),
                        notes=_notes(out))
    return SweepResult(results, text, failed, report)


def _notes(out: Path) -> dict[str, list[str]]:
    """Per method label, the bundled-weights notes its runs recorded in run.json."""
    from bsrbench.results import RunLog

    notes: dict[str, list[str]] = {}
    try:
        runs = RunLog(out).runs
    except InputError:
        return notes
    for entry in runs:
        mine = notes.setdefault(str(entry.get("method")), [])
        mine.extend(n for n in entry.get("bundled_notes") or () if n not in mine)
    return notes


def check_hr_folder(hr: str | Path) -> Path:
    """``--hr`` as an existing folder; a file (often a test-set .h5) or a missing path is a
    one-line error that says which."""
    path = Path(hr)
    if path.is_file():
        raise InputError(f"--hr {hr} is a file, not a folder: pass a folder of HR images "
                         "(a test-set FILE.h5 goes to --dataset)")
    if not path.is_dir():
        raise InputError(f"--hr folder {hr} not found: pass a folder of HR images")
    return path


def _check_jobs(cfg: SweepConfig, registry: Registry,
                jobs: list[tuple[str, str | None, int | None]]) -> None:
    """Check every job's test set before the first one runs: each ``--hr`` folder and its
    images, each protocol's settings, each test-set file (verified) and its scale, and the
    dataset cache. A sweep must not fail at its third HR folder after an hour of work."""
    from bsrbench.datasets import check_cache_dir, dataset_settings, default_cache_dir
    from bsrbench.errors import UnknownNameError

    files = [d for d in cfg.datasets if d.endswith((".h5", ".hdf5"))]
    if cfg.hr and len(files) == len(cfg.datasets):
        raise InputError(f"--hr does not apply to a test-set file ({files[0]} holds its own HR "
                         "images): drop --hr, or pass a protocol name as --dataset")
    for hr in cfg.hr:
        check_hr_folder(hr)
    for dataset in cfg.datasets:
        if dataset not in files and dataset not in registry.protocols:
            raise UnknownNameError("dataset", dataset, registry.protocols)
    if len(files) < len(cfg.datasets):
        check_cache_dir(cfg.cache_dir or default_cache_dir())
    for dataset, hr, scale in jobs:
        if dataset in files:  # verified (checksum, structure), its scale against the plans
            _file_scale(cfg, registry, dataset, scale)
            continue
        protocol = registry.protocols[dataset]
        if protocol.reader is None:  # a release folder is read (and checked) when built
            dataset_settings(registry, protocol, hr=hr, scale=scale,
                             downsampler=cfg.downsampler, noise=cfg.noise, seed=cfg.seed)


def _file_scale(cfg: SweepConfig, registry: Registry, dataset: str, scale: int | None) -> int:
    """Verify a test-set file and return its scale, which every plan must support."""
    from bsrbench.datasets import TestSet, resolve_dataset

    path = resolve_dataset(registry, dataset, downsampler=cfg.downsampler, noise=cfg.noise,
                           seed=cfg.seed, jpeg=cfg.jpeg, draws=cfg.draws)
    with TestSet(path, verify=False) as ts:
        ds_scale = ts.settings.scale
    if scale is not None and ds_scale != scale:
        raise InputError(f"{path} is a x{ds_scale} test set, not x{scale}: drop --scale "
                         f"for a test-set file, or pass a x{scale} one")
    for plan in _plans(cfg, registry, ds_scale):
        plan.check_kernel_weights(cfg.kernel_weights)
    return ds_scale


def _tasks(cfg: SweepConfig, registry: Registry, jobs: list[tuple[str, str | None,
           int | None]], out: Path, device: str, quiet: bool) -> Iterator[RunConfig]:
    """Build (or reuse) each test set, just before its first task, and yield a run of
    every plan on it; the executor runs them."""
    from bsrbench.datasets import TestSet, resolve_dataset
    from bsrbench.progress import Progress
    from bsrbench.runner import RunConfig

    for dataset, hr, scale in jobs:
        bars: list[Progress] = []

        def on_build(n: int, dataset: str = dataset, bars: list[Progress] = bars) -> None:
            log.info("building test set %s (%d HR images)...", dataset, n)
            bars.append(Progress(n, f"build {dataset}", quiet=quiet))

        path = resolve_dataset(registry, dataset, hr=hr, scale=scale,
                               downsampler=cfg.downsampler, noise=cfg.noise, seed=cfg.seed,
                               jpeg=cfg.jpeg, draws=cfg.draws, cache_dir=cfg.cache_dir,
                               progress=lambda n, bars=bars: bars[-1].update(n),
                               on_build=on_build)
        for bar in bars:
            bar.close()
        with TestSet(path, verify=False) as ts:  # resolve_dataset has verified it
            ds_scale = ts.settings.scale
        for plan in _plans(cfg, registry, ds_scale):
            log.info("running %s on %s (%s) -> %s", plan.label, path.name, device, out)
            yield RunConfig(plan=plan, dataset=path, out=out, device=device,
                            weights=cfg.weights, kernel_weights=cfg.kernel_weights,
                            convention=cfg.convention,
                            batch_size=cfg.batch_size, command=cfg.command,
                            quiet=quiet, save_images=cfg.save_images,
                            metrics=cfg.metrics, tile=cfg.tile,
                            tile_overlap=cfg.tile_overlap,
                            max_memory_mb=cfg.max_memory_mb)


def _write_report(out: Path) -> Path | None:
    """report.html beside results.csv; a report failure never loses the results."""
    try:
        from bsrbench.report import write_report
    except ImportError:
        return None
    try:
        return write_report([out], out / "report.html")
    except Exception as exc:  # the results are safe on disk; say why the report is missing
        log.warning("report.html not written: %s", exc)
        return None

"""The "Run metadata" section: every run.json entry of every run folder, side by side.

A folder without run.json, or with one that cannot be read, is said so in its place: the
report still renders from results.csv, because the numbers do not depend on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bsrbench.report.blocks import Heading, Note, Row, Table, cell
from bsrbench.report.context import RunRecord

__all__ = ["META_FIELDS", "metadata_blocks"]

META_FIELDS = (
    ("run_id", "run id"), ("method", "method"), ("upper_bound", "upper bound"),
    ("model", "model"), ("estimator", "estimator"), ("options", "options"),
    ("weights", "weights"), ("kernel_weights", "kernel weights"),
    ("weights_sha256", "weights sha256"), ("kernel_conversion", "kernel conversion"),
    ("noise_known", "noise known"), ("dataset.label", "dataset"),
    ("dataset.protocol", "protocol"), ("dataset.hr_set", "HR set"),
    ("dataset.scale", "scale"), ("dataset.downsampler", "downsampler"),
    ("dataset.noise", "noise"), ("dataset.file", "dataset file"),
    ("dataset.content_hash", "dataset content hash"), ("convention", "metric convention"),
    ("metrics", "metrics"), ("device", "device"), ("bsrbench_version", "bsrbench"),
    ("torch_version", "torch"), ("python_version", "python"), ("plugins", "plugins"),
    ("git_commit", "git commit"), ("command", "command line"), ("started", "started"),
    ("finished", "finished"), ("failed_lr_images", "failed LR images"),
    ("repaired", "repaired"),
)
MONO = frozenset({"command", "dataset.file", "git_commit", "dataset.content_hash", "options",
                  "weights_sha256", "run_id"})


def _metrics(value: Any) -> str:
    """run.json's metric list as "psnr ↑ dB, lpips ↓"."""
    out = []
    for m in value if isinstance(value, list) else []:
        if isinstance(m, Mapping):
            hb = m.get("higher_better")
            arrow = "↑" if hb is True else "↓" if hb is False else "?"
            out.append(" ".join(str(p) for p in (m.get("name"), arrow, m.get("unit")) if p))
    return ", ".join(out)


def meta_value(meta: Mapping[str, Any], key: str) -> str:
    """One field of a run.json entry as text ("–" when absent)."""
    ds = meta.get("dataset") if isinstance(meta.get("dataset"), Mapping) else {}
    if key == "plugins":
        plugins = meta.get("plugins") or []
        return ", ".join(f"{p.get('name')} {p.get('version')}"
                         + (f" (error: {p['error']})" if p.get("error") else "")
                         for p in plugins if isinstance(p, Mapping))
    if key == "metrics":
        return _metrics(meta.get("metrics")) or "–"
    value = ds.get(key.split(".", 1)[1]) if key.startswith("dataset.") else meta.get(key)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "–" if value is None or value == "" else str(value)


def metadata_blocks(runs: Sequence[RunRecord]) -> list[Any]:
    """Provenance of every run folder, one column per recorded run."""
    out: list[Any] = []
    for run in runs:
        out += [Heading(run.name), Note(str(run.path.resolve()), "note mono")]
        if run.invalid:
            out.append(Note(f"results.csv rows left out (they do not parse): "
                            f"{'; '.join(run.invalid[:10])}"
                            + (f" (and {len(run.invalid) - 10} more)" if len(run.invalid) > 10
                               else ""), "warn"))
        if run.problem:
            out.append(Note(run.problem, "warn"))
            continue
        head = (cell(""), *(cell(f"run {i + 1}: {e.get('method', '?')}")
                            for i, e in enumerate(run.entries)))
        body = tuple(Row((cell(label), *(cell(meta_value(e, key), "wrap mono" if key in MONO
                                              else "wrap") for e in run.entries)))
                     for key, label in META_FIELDS
                     if key != "repaired" or any("repaired" in e for e in run.entries))
        out.append(Table((head,), body, "meta"))
    return out

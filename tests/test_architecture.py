"""The package layout and docs/architecture.md agree: every import goes the way the
table allows, every unit is in the table, and the core never imports a plugin."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bsrbench"
DOC = ROOT / "docs" / "architecture.md"


def _table() -> dict[str, set[str] | None]:
    """unit -> allowed units (None: every unit), from the doc's table."""
    allowed: dict[str, set[str] | None] = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `([a-z_]+)` \|[^|]+\|([^|]*)\|$", line)
        if m:
            cell = m.group(2).strip()
            allowed[m.group(1)] = None if cell == "every unit" else set(
                re.findall(r"`([a-z_]+)`", cell))
    return allowed


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "bsrbench":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if (PKG / parts[1]).is_dir() or (PKG / f"{parts[1]}.py").is_file() \
        else "__init__"


def _imports() -> dict[str, set[tuple[str, str]]]:
    """unit -> {(imported module, file)} for every bsrbench-internal or plugin import."""
    out: dict[str, set[tuple[str, str]]] = {}
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        unit = _unit(module)
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                out.setdefault(unit, set()).add((name, str(rel)))
    return out


def test_architecture_doc_lists_every_unit():
    table = _table()
    units = {p.stem for p in PKG.glob("*.py")} - {"__init__"} | {
        p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    units.add("__init__")
    assert not units - set(table), f"units missing from {DOC.name}: {sorted(units - set(table))}"
    assert not set(table) - units, f"{DOC.name} lists units that do not exist: " \
                                   f"{sorted(set(table) - units)}"


@pytest.mark.parametrize("unit", sorted(_table()))
def test_architecture_imports_follow_the_table(unit):
    allowed = _table()[unit]
    bad = []
    for name, where in sorted(_imports().get(unit, ())):
        if name.startswith("bsrbench_"):
            bad.append(f"{where} imports the plugin {name}")
            continue
        target = _unit(name)
        if target is None or target == unit or allowed is None:
            continue
        if target not in allowed:
            bad.append(f"{where} imports {name} ({target} is not allowed for {unit})")
    assert not bad, "\n".join(bad)


def test_architecture_results_never_import_the_runner_or_report():
    allowed = _table()["results"]
    assert allowed is not None and {"runner", "report", "cli"}.isdisjoint(allowed)

"""docs/plugins.md stays in sync with the code: hook signatures, spec fields, commands."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import shlex
from pathlib import Path

import click
import pytest

from bsrbench import hookspecs, interfaces, specs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", TEXT, flags=re.S | re.M)
HOOKSPECS = {n: f for n, f in vars(hookspecs).items()
             if n.startswith("bsrbench_") and callable(f)}


def _hooks_section() -> str:
    start = TEXT.index("\n## Hooks\n")
    return TEXT[start:TEXT.index("\n## ", start + 1)]


def _doc_functions(source: str) -> list[tuple[str, str]]:
    """``(name, "(params) -> return")`` of every ``@hookimpl`` function in python blocks."""
    out = []
    for lang, code in BLOCKS if source == "all" else re.findall(
            r"^```(\w+)\n(.*?)^```", source, flags=re.S | re.M):
        if lang != "python":
            continue
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.FunctionDef) and any(
                    ast.unparse(d).endswith("hookimpl") for d in node.decorator_list):
                args = [a.arg + (f": {ast.unparse(a.annotation)}" if a.annotation else "")
                        for a in node.args.args]
                ret = ast.unparse(node.returns) if node.returns else "None"
                out.append((node.name, f"({', '.join(args)}) -> {ret}"))
    return out


def _spec_signature(fn) -> str:
    sig = inspect.signature(fn)
    args = [p.name + (f": {p.annotation}" if p.annotation is not p.empty else "")
            for p in sig.parameters.values()]
    ret = sig.return_annotation if sig.return_annotation is not sig.empty else "None"
    return f"({', '.join(args)}) -> {ret}"


def test_docs_every_hookspec_is_documented_and_every_documented_hook_exists():
    headings = set(re.findall(r"^### `(bsrbench_\w+)`$", _hooks_section(), flags=re.M))
    documented = dict(_doc_functions(_hooks_section()))
    assert headings == set(documented), "each hook heading needs its signature block"
    assert set(documented) == set(HOOKSPECS)


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_docs_hook_signature_matches_hookspec(name):
    assert dict(_doc_functions(_hooks_section()))[name] == _spec_signature(HOOKSPECS[name])


def test_docs_examples_use_real_hook_signatures():
    for name, signature in _doc_functions("all"):
        assert name in HOOKSPECS, f"docs use a hook that does not exist: {name}"
        assert signature == _spec_signature(HOOKSPECS[name]), name


def test_docs_python_blocks_compile():
    for lang, code in BLOCKS:
        if lang == "python":
            compile(code, str(DOC), "exec")


@pytest.mark.parametrize("cls", [
    specs.MethodSpec, specs.ModelSpec, specs.EstimatorSpec, specs.DegradationSpec,
    specs.ProtocolSpec, specs.MetricSpec, specs.OptionSpec, specs.BuildContext,
    interfaces.LRBatch, interfaces.Step, interfaces.KernelEstimate,
], ids=lambda c: c.__name__)
def test_docs_mention_every_spec_field(cls):
    spans = " ".join(re.findall(r"`([^`\n]+)`", TEXT))
    assert cls.__name__ in TEXT
    missing = [f.name for f in dataclasses.fields(cls)
               if not re.search(rf"\b{f.name}\b", spans)]
    assert not missing, f"{cls.__name__} fields not documented: {missing}"


def test_docs_commands_and_their_options_exist():
    from bsrbench.cli import main
    from bsrbench.cli.plugins import register

    group = click.Group("bsrbench", commands=dict(main.commands))
    register(group)
    seen = set()
    for lang, code in BLOCKS:
        if lang != "bash":
            continue
        for line in code.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if len(words) < 2 or words[0] != "bsrbench":
                    continue
                command = group.commands.get(words[1])
                assert command is not None, f"docs use an unknown command: {part.strip()}"
                opts = {o for p in command.params for o in p.opts}
                for flag in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", part):
                    assert flag in opts, f"{words[1]} has no option {flag}"
                seen.add(words[1])
    assert {"new-plugin", "check-plugin", "methods", "run"} <= seen


def test_docs_fixtures_and_functions_of_the_pytest_plugin_exist():
    from bsrbench import plugin_dev
    from bsrbench.plugin_dev import pytest_plugin

    names = set(re.findall(r"`(bsrbench_\w+)", TEXT)) - set(HOOKSPECS)
    names -= {"bsrbench_mysr", "bsrbench_method"}  # the example package, the typo example
    assert {"bsrbench_conformance", "bsrbench_registry"} <= names
    for name in names:
        assert hasattr(pytest_plugin, name), f"docs name a fixture the pytest plugin lacks: {name}"
    for name in re.findall(r"`(?:bsrbench\.plugin_dev\.)?(check_\w+|format_results)\(", TEXT):
        assert name in plugin_dev.__all__, name
    assert "--bsrbench-device" in inspect.getsource(pytest_plugin)
    assert 'pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]' in TEXT

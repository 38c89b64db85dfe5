"""``bsrbench methods`` and ``bsrbench plugins``: what is installed."""

from __future__ import annotations

import click

from bsrbench.cli.common import Command, handle_errors, registry


@click.command(cls=Command)
@handle_errors
def methods() -> None:
    """List methods, non-blind models and kernel estimators."""
    reg = registry()
    for title, kind in (("methods", "method"), ("models (use with --kernel)", "model"),
                        ("kernel estimators (--kernel)", "estimator")):
        click.echo(f"{title}:")
        for name in reg.list(kind):
            spec = reg.get(kind, name)
            avail = spec.weights_available
            if avail is None:
                weights = "no weights needed"
            else:
                have = [s for s in spec.scales if avail(s)]
                weights = f"weights: x{',x'.join(map(str, have))}" if have else "no bundled weights"
            extra = " [upper bound]" if getattr(spec, "uses_ground_truth", False) else ""
            click.echo(f"  {name:<16} x{',x'.join(map(str, spec.scales)):<9} {weights:<20} "
                       f"{spec.summary}{extra}")
            if spec.paper and spec.paper != "-":
                click.echo(f"  {'':<16} paper: {spec.paper}; licence: {spec.license}")
            for opt in spec.options:
                click.echo(f"  {'':<16} -O {opt.name}={opt.default!r}: {opt.help}")


@click.command(cls=Command)
@handle_errors
def plugins() -> None:
    """List loaded plugins (name, distribution, version, what they provide)."""
    reg = registry()
    for p in reg.plugins:
        status = f"FAILED: {p.error}" if p.error else ", ".join(p.provides) or "-"
        click.echo(f"{p.name:<10} {p.distribution} {p.version}: {status}")


def register(group: click.Group) -> None:
    group.add_command(methods)
    group.add_command(plugins)

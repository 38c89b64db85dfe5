"""``bsrbench train NAME``: training commands contributed by plugins."""

from __future__ import annotations

import click

from bsrbench.cli.common import registry


class _TrainGroup(click.Group):
    """``bsrbench train NAME``: commands contributed by plugins, loaded on demand."""

    def _commands(self) -> dict[str, click.Command]:
        return {c.name: c for c in registry().train_commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._commands().get(name)



@click.group(cls=_TrainGroup)
def train() -> None:
    """Train a method's networks (commands come from plugins: ikc, srmd...)."""


def register(group: click.Group) -> None:
    group.add_command(train)

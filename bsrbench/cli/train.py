"""``bsrbench train NAME``: training commands contributed by plugins."""

from __future__ import annotations

import click

from bsrbench.cli.common import OneLineUsageError, registry


class _TrainGroup(click.Group):
    """``bsrbench train NAME``: commands contributed by plugins, loaded on demand."""

    def _commands(self) -> dict[str, click.Command]:
        return {c.name: c for c in registry().train_commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._commands().get(name)

    def invoke(self, ctx: click.Context) -> object:
        """Plugins' commands are plain click commands: their usage errors become one line
        here, as every other command's do."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message(), exc.ctx or ctx) from None

@click.group(cls=_TrainGroup)
def train() -> None:
    """Train a method's networks (commands come from plugins: ikc, srmd...)."""


def register(group: click.Group) -> None:
    group.add_command(train)

"""Entry point: ``suanli``. Registers the command groups and turns user errors into
one-line messages with exit code 2 (no tracebacks for bad input)."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="suanli",
    help="Suanli (算力): how much compute a model needs, what it costs, where it should run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command groups: (module under suanli.cli, group name or None to add its commands at top level).
# Each module defines ``app`` (a typer.Typer) and imports nothing heavy at module level.
GROUPS: list[tuple[str, str | None]] = [
    ("train", "train"),
    ("catalog_cmds", None),
]


def _register() -> None:
    import importlib

    for module_name, group in GROUPS:
        module = importlib.import_module(f"suanli.cli.{module_name}")
        if group is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=group)


_register()


def run() -> None:
    """Console-script entry: run the app, map SuanliError to exit 2 with one line on stderr."""
    from suanli.errors import SuanliError

    try:
        app(standalone_mode=False)
    except SuanliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(1) from None
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
    raise SystemExit(0)


if __name__ == "__main__":
    run()

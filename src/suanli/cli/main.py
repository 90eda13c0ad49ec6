"""Entry point: ``suanli``. Registers the command groups and turns user errors into
one-line messages with exit code 2 (no tracebacks for bad input)."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="suanli",
    help="Suanli (算力): how much compute a model needs, what it costs, where it should run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        from suanli import __version__

        typer.echo(f"suanli {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    catalog: list[str] | None = typer.Option(
        None, "--catalog", metavar="DIR",
        help="Extra catalog directory with accelerators*.csv, systems*.csv, models*.yaml "
             f"(repeat it, or separate several with '{os.pathsep}'). Read after the built-in "
             "files and $SUANLI_CATALOG: a row with an existing id replaces it."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Print the version and exit."),
) -> None:
    """Suanli (算力): how much compute a model needs, what it costs, where it should run."""
    if catalog:
        from suanli.errors import InputError

        dirs = [d for item in catalog for d in item.split(os.pathsep) if d]
        for d in dirs:
            if not os.path.isdir(os.path.expanduser(d)):
                raise InputError(f"--catalog {d}: no such directory; give a folder holding "
                                 "accelerators*.csv, systems*.csv or models*.yaml files")
        # the loader lets later directories win, so the flag goes after the environment's
        old = os.environ.get("SUANLI_CATALOG", "")
        os.environ["SUANLI_CATALOG"] = os.pathsep.join([*filter(None, [old]), *dirs])


# Command groups: (module under suanli.cli, group name or None to add its commands at top level).
# Each module defines ``app`` (a typer.Typer) and imports nothing heavy at module level.
GROUPS: list[tuple[str, str | None]] = [
    ("train", "train"),
    ("sim", "sim"),
    ("infer", "infer"),
    ("catalog_cmds", None),
    ("net", "net"),
    ("tools", None),
    ("service", "service"),
    ("capacity", None),
    ("bench", None),
    ("workload", "workload"),
    ("agent", "agent"),
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
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")  # always one line
        raise SystemExit(exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(1) from None
    except typer.TyperException as exc:  # click usage errors carry their own exit code
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {exc.format_message()}\n")
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(0)


if __name__ == "__main__":
    run()

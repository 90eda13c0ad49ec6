"""``suanli train``: estimate one training plan, or search for the best ones."""

from __future__ import annotations

import typer

app = typer.Typer(help="Training compute: estimate one plan, search plans.", no_args_is_help=True)

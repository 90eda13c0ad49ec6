"""Typed errors. Each one tells the user what is wrong and how to fix it.

The CLI turns any :class:`SuanliError` into a one-line message and exit code 2;
anything else is a bug in Suanli and keeps its traceback.
"""

from __future__ import annotations


class SuanliError(Exception):
    """Base class for errors caused by user input or user data (exit code 2)."""

    exit_code = 2


class InputError(SuanliError, ValueError):
    """A value given by the user is invalid (bad flag, bad quantity, bad combination)."""


class CatalogError(SuanliError):
    """A catalog file (built in or user supplied) is malformed; says file, row and field."""

    def __init__(self, message: str, *, file: str | None = None, row: int | str | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(
            part for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"field '{field}'" if field else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field = file, row, field


class NotFoundError(InputError):
    """A name (model, accelerator, system, ...) is not in the catalog; suggests close names."""

    def __init__(self, kind: str, name: str, choices: list[str] | tuple[str, ...]) -> None:
        import difflib

        close = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=3,
                                          cutoff=0.5)
        lookup = {c.lower(): c for c in choices}
        hint = f" Did you mean: {', '.join(lookup[c] for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} '{name}'.{hint} List them with `suanli "
                         f"{'models' if kind == 'model' else 'hardware'}`.")
        self.kind, self.name, self.suggestions = kind, name, [lookup[c] for c in close]


class InfeasibleError(SuanliError):
    """No plan satisfies the request. ``reasons`` say why, ``fixes`` what would make it work."""

    def __init__(self, message: str, reasons: list[str] | None = None,
                 fixes: list[str] | None = None) -> None:
        self.reasons = reasons or []
        self.fixes = fixes or []
        text = message
        if self.reasons:
            text += " Reasons: " + "; ".join(self.reasons) + "."
        if self.fixes:
            text += " Try: " + "; ".join(self.fixes) + "."
        super().__init__(text)

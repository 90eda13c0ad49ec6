"""Input hardening shared by every route: JSON without NaN/Infinity or NUL, bounded numbers,
text without control characters, and the bounds of a joined site's descriptor.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as ``inf``) without complaint, and
PostgreSQL refuses a NUL inside a text value with an error (a 500 if nothing catches it), so
:class:`JsonGuard` reads each JSON body once before any route does and answers 422 naming the
field for any of them; a NUL in the URL path is a 404 and in the query or a header a 422.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 but tab/newline/CR, and DEL
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")  # one-line text: no tab or newline either
BIG = 1e12  # any number of any field beyond this is refused (no quantity here is larger)
MAX_DEPTH = 32  # nesting levels of a JSON body (a site descriptor needs 3)

# Bounds on a site descriptor's numbers, by field name (the largest plausible real value, with
# headroom): a site with more than a million devices or a device-hour over $10k is a typo.
SITE_BOUNDS: dict[str, tuple[float, float]] = {
    "count": (1, 1_000_000),  # devices
    "on_demand_usd_per_device_hour": (0, 10_000),  # USD per device-hour
    "spot_usd_per_device_hour": (0, 10_000),
    "ops_usd_per_device_hour": (0, 10_000),
    "capex_usd_per_device": (0, 10_000_000),  # USD
    "lifetime_years": (0, 50),
    "spot_preemptions_per_hour": (0, 3600),
    "electricity_usd_per_kwh": (0, 100),
    "carbon_g_per_kwh": (0, 5000),  # gCO2 per kWh (coal is ~1000)
    "egress_usd_per_gb": (0, 1000),
    "wan_gbps": (0, 1_000_000),
}


class FieldError(ValueError):
    """A bad value at ``path`` (dotted, e.g. ``inventory.0.count``)."""

    def __init__(self, path: str, msg: str) -> None:
        super().__init__(f"{path or 'body'}: {msg}")
        self.path = path


def walk(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, leaf) of a JSON value, keys included as leaves of their own."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else str(k)
            yield sub, str(k)
            yield from walk(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}.{i}" if path else str(i))
    else:
        yield path, obj


def depth(obj: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list) and v:
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def check_json(obj: Any) -> None:
    """Raise :class:`FieldError` for nesting deeper than :data:`MAX_DEPTH`, a non-finite or
    huge number, or a NUL in any string."""
    if depth(obj) > MAX_DEPTH:
        raise FieldError("", f"JSON nested too deeply (more than {MAX_DEPTH} levels)")
    for path, v in walk(obj):
        if isinstance(v, float) and not math.isfinite(v):
            raise FieldError(path, f"must be a finite number, got {v} (NaN, Infinity and "
                             "numbers beyond 1e308 are not accepted)")
        if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > BIG:
            raise FieldError(path, f"number {v:.3g} is out of range (|x| <= {BIG:.0e})")
        if isinstance(v, str) and "\x00" in v:
            raise FieldError(path, "NUL characters are not accepted in text")


def check_text(value: str, *, multiline: bool = False) -> str:
    """``value`` when it has no control characters (tab/newline allowed if ``multiline``)."""
    if (_CONTROL if multiline else _CONTROL_LINE).search(value):
        raise ValueError("control characters (NUL, escape, ...) are not accepted")
    return value


def check_site(raw: Any) -> None:
    """Bounds of a site descriptor beyond its schema: every number finite and within
    :data:`SITE_BOUNDS` (by field name, else |x| <= :data:`BIG`), text without control
    characters. Raises :class:`FieldError` naming the field."""
    check_json(raw)
    for path, v in walk(raw):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(v, str) and _CONTROL.search(v):
            raise FieldError(path, "control characters are not accepted in text")
        if isinstance(v, int | float) and not isinstance(v, bool) and leaf in SITE_BOUNDS:
            lo, hi = SITE_BOUNDS[leaf]
            if not lo <= v <= hi:
                raise FieldError(path, f"{v:.6g} is out of range [{lo:g}, {hi:g}]")


async def reply(send: Any, code: int, detail: str,
                headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer ``{"detail": ...}`` with ``code`` straight from an ASGI layer."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def _loads(body: bytes) -> Any:
    return json.loads(body)  # NaN/Infinity/1e999 parse to floats: check_json refuses them


class JsonGuard:
    """ASGI layer: 404 for a NUL in the path, 422 for one in the query or a header, and 422
    naming the field for a JSON body with NaN, Infinity, a huge number or a NUL."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("raw_path", b"").lower():
            return await reply(send, 404, "not found: a URL path cannot hold NUL characters")
        if b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
            return await reply(send, 422, "query: NUL characters are not accepted")
        for name, value in scope.get("headers", ()):
            if b"\x00" in value:
                return await reply(send, 422, f"header {name.decode('latin-1')}: NUL "
                                   "characters are not accepted")
        ctype = dict(scope.get("headers", ())).get(b"content-type", b"")
        if scope["method"] not in ("POST", "PUT", "PATCH") or b"json" not in ctype:
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return await self.app(scope, receive, send)
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        if body:
            try:
                check_json(_loads(body))
            except FieldError as exc:
                return await reply(send, 422, str(exc))
            except RecursionError:
                return await reply(send, 422, "body: JSON nested too deeply")
            except ValueError:
                pass  # not JSON: the route's own parser answers 422

        sent = [False]

        async def replay() -> dict[str, Any]:
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

"""The dashboard's router: static HTML + vanilla JS + CSS from ``web/static`` (no build step).

Mount with ``app.include_router(router)``; it serves ``/`` (index.html) and one route per asset
beside it (``/app.js``, ...), so no other path is read from disk and no API path is
shadowed. The page then talks to the JSON API (``/api/v1/...``) with the API key the user
pastes (kept in localStorage).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
ASSETS = frozenset(p.name for p in STATIC_DIR.iterdir() if p.suffix in _TYPES)

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def _file(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no dashboard file '{name}'")
    path = STATIC_DIR / name
    return FileResponse(path, media_type=_TYPES[path.suffix],
                        headers={"Cache-Control": "no-cache"})


@router.get("/")
def index() -> FileResponse:
    """The dashboard page."""
    return _file("index.html")


def _asset_route(name: str) -> None:
    def asset() -> FileResponse:
        return _file(name)

    router.add_api_route(f"/{name}", asset, methods=["GET"], name=f"dashboard:{name}")


for _name in sorted(ASSETS - {"index.html"}):
    _asset_route(_name)

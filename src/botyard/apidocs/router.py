"""/docs (Swagger UI) and /redoc (ReDoc) from assets installed with a Python package.

Both pages load only this server's files: the Swagger UI and ReDoc bundles that the pinned
``fastapi-offline`` package ships, and Botyard's own start-up script (no inline script, so the
pages keep ``script-src 'self'``). Swagger UI is told never to persist authorization, so a key
pasted into "Authorize" lives only as long as the tab and is never written to storage.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from botyard.core.assets import IMMUTABLE, file_version
from botyard.core.csp import STRICT, html_headers

router = APIRouter(tags=["reference"], include_in_schema=False)

VENDOR_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
OWN_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (VENDOR_DIR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (VENDOR_DIR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (VENDOR_DIR / "redoc.standalone.js", "text/javascript"),
    "api-docs.js": (OWN_DIR / "api-docs.js", "text/javascript"),
}

# Swagger UI and ReDoc render with inline styles (React style attributes, styled-components'
# <style> elements); ReDoc runs its search index in a worker it starts from a blob: URL.
# Scripts stay 'self' only: nothing inline, nothing from another host.
DOCS_POLICY = STRICT.allow("style-src", "'unsafe-inline'").allow("worker-src", "blob:")

SWAGGER_UI_CONFIG: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "displayRequestDuration": True,
    "showCommonExtensions": True,
    # A pasted key is never written to localStorage: it ends with the tab (issue 17, item 10).
    "persistAuthorization": False,
    # The default validator badge would call a third-party host with the document.
    "validatorUrl": None,
}


def asset_url(request: Request, name: str) -> str:
    root = request.scope.get("root_path", "")
    return f"{root}/docs/assets/{name}?v={file_version(ASSETS[name][0])}"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{escape(title)}</title>
{head}</head>
<body>
{body}
</body></html>"""
    return HTMLResponse(html, headers={**html_headers(DOCS_POLICY), "Cache-Control": "no-store"})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, with "Try it out" after pasting a key into Authorize."""
    config = {**SWAGGER_UI_CONFIG, "url": request.scope.get("root_path", "") + "/openapi.json"}
    return _page(
        f"{request.app.title} · Swagger UI",
        f'<link rel="stylesheet" href="{escape(asset_url(request, "swagger-ui.css"))}">\n',
        f'<div id="swagger-ui" data-config="{escape(json.dumps(config))}"></div>\n'
        f'<script src="{escape(asset_url(request, "swagger-ui-bundle.js"))}"></script>\n'
        f'<script src="{escape(asset_url(request, "api-docs.js"))}"></script>',
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same document as one long, searchable reference page."""
    spec_url = request.scope.get("root_path", "") + "/openapi.json"
    return _page(
        f"{request.app.title} · ReDoc",
        "",
        f'<redoc spec-url="{escape(spec_url)}"></redoc>\n'
        f'<script src="{escape(asset_url(request, "redoc.standalone.js"))}"></script>',
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "No such file.")
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type, headers=IMMUTABLE)

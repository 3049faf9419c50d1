"""``/docs`` (Swagger UI) and ``/redoc`` from files inside the package, not from a CDN.

FastAPI's own pages load their scripts from jsDelivr and fonts from Google, so without
internet they are blank. The files are vendored from npm (``api/static/README.md``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve the two documentation pages and their assets; create the app with docs_url=None."""
    # Plain routes like FastAPI's own docs: open to anyone, and not part of the schema.
    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=_openapi_url(request, app),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{_root(request)}{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{_root(request)}{ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{_root(request)}{ASSETS}/swagger-ui/favicon-32x32.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=_openapi_url(request, app),
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{_root(request)}{ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{_root(request)}{ASSETS}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def _root(request: Request) -> str:
    # Behind a proxy that mounts the API under a prefix, the assets live under it too.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request, app: FastAPI) -> str:
    return f"{_root(request)}{app.openapi_url}"

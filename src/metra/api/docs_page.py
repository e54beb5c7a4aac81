"""The interactive OpenAPI page at ``/docs``, served without a CDN.

FastAPI's own page loads Swagger UI from a public CDN, which an offline central system cannot
reach (and should not: a page of the operator's API would then run third-party code). Here the
assets come from the `fastapi-offline` package (Swagger UI 5, which reads OpenAPI 3.1) and are
served under ``/docs/assets``; the page names only local URLs, turns off Swagger UI's online
validator badge, and carries a Content-Security-Policy that lets a browser load nothing from
elsewhere.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")
#: The page's inline start-up script is FastAPI's; everything else must come from this origin.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def install(app: FastAPI, openapi_url: str) -> None:
    """Serve the page and its assets on `app` (called by the app factory)."""
    app.mount(ASSETS_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        page.headers["Content-Security-Policy"] = CSP
        return page

    app.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)

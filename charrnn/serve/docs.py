"""GET /docs: the OpenAPI page, served offline.

FastAPI's default /docs page loads Swagger UI's script and stylesheet from a CDN, so it is blank on
a machine without internet. Here the same Swagger UI comes from the `swagger-ui-bundle` package
(installed with charrnn: its files ship in the wheel), mounted at /docs/assets, and the page is
FastAPI's own `get_swagger_ui_html` pointed at those files. Nothing on the page comes from another
host; /openapi.json stays the machine-readable schema.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def add_docs(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")

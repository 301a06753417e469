"""GET /docs: the OpenAPI page, served offline.

FastAPI's default /docs page loads Swagger UI's script and stylesheet from a CDN, so it is blank on
a machine without internet. Here Swagger UI comes from the `swagger-ui-bundle` package (installed
with charrnn; its files ship in the wheel), mounted at /docs/assets, and the page that starts it is
written below. Nothing on the page comes from another host; /openapi.json stays the
machine-readable schema.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({{url: "{openapi}", dom_id: "#swagger-ui", deepLinking: true, layout: "BaseLayout",
                  presets: [SwaggerUIBundle.presets.apis]}});
</script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """Mount Swagger UI's files and serve the page at /docs (create the app with docs_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title=f"{app.title} API", assets=ASSETS, openapi=app.openapi_url))

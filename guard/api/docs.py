"""``/docs``: Swagger UI for the API, off by default and never from a CDN.

FastAPI's default page loads Swagger UI's script from a CDN; on the proxy's origin that is
third-party code running next to the reviewer pages (same origin, /review). So the page is only
served when ``server.docs`` is on, and then with Swagger UI's files from the
``swagger-ui-bundle`` package (the ``docs`` extra), served by guard itself.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from guard.errors import ConfigError


def install_docs(app: FastAPI) -> None:
    try:
        import swagger_ui_bundle
    except ImportError:
        raise ConfigError(
            ["server.docs is on but Swagger UI's files are not installed: pip install 'guard[docs]' (swagger-ui-bundle)"]
        ) from None
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

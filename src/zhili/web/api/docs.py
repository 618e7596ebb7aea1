"""OpenAPI documentation pages served with zhili's own copy of Swagger UI (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from zhili.web.deps import authorize

router = APIRouter(include_in_schema=False)


@router.get("/docs", dependencies=[Depends(authorize("system.health"))])
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="zhili 城市智理 API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )

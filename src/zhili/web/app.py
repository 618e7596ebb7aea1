"""The FastAPI app factory: settings and database are passed in (or built from the
environment), never created at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

import zhili
from zhili.audit import shared_log
from zhili.db import Database
from zhili.jobs import JobRunner
from zhili.settings import Settings, get_settings
from zhili.web import problems
from zhili.web.api import audit as api_audit
from zhili.web.api import auth as api_auth
from zhili.web.api import calendar as api_calendar
from zhili.web.api import catalog as api_catalog
from zhili.web.api import ckan as api_ckan
from zhili.web.api import docs, health, jobs, orgs, tokens, users
from zhili.web.api import exchange as api_exchange
from zhili.web.api import feedback as api_feedback
from zhili.web.api import grid_areas as api_grid_areas
from zhili.web.api import grid_categories as api_grid_categories
from zhili.web.api import grid_events as api_grid_events
from zhili.web.api import grid_stats as api_grid_stats
from zhili.web.api import sql as api_sql
from zhili.web.api import subscriptions as api_subscriptions
from zhili.web.api import verify as api_verify
from zhili.web.api import verify_scenarios as api_verify_scenarios
from zhili.web.api import verify_schedules as api_verify_schedules
from zhili.web.gate import DatabaseGate
from zhili.web.open311.router import router as open311_router
from zhili.web.pages import (
    account,
    admin_calendar,
    admin_orgs,
    admin_users,
    audit,
    catalog,
    exchange,
    home,
    login,
    portal,
)
from zhili.web.pages import feedback as feedback_pages
from zhili.web.pages import grid_areas as grid_area_pages
from zhili.web.pages import grid_board as grid_board_pages
from zhili.web.pages import grid_categories as grid_category_pages
from zhili.web.pages import grid_events as grid_event_pages
from zhili.web.pages import grid_stats as grid_stats_pages
from zhili.web.pages import subscriptions as subscription_pages
from zhili.web.pages import verify as verify_pages
from zhili.web.pages import verify_review as verify_review_pages
from zhili.web.pages import verify_scenarios as verify_scenario_pages
from zhili.web.pages import verify_schedules as verify_schedule_pages

STATIC = Path(__file__).parent / "static"

ROUTERS = (
    health.router,
    docs.router,
    api_auth.router,
    tokens.router,
    orgs.router,
    users.router,
    api_calendar.router,
    api_catalog.router,
    api_subscriptions.router,  # before api_exchange: /grants/{id}/{action}
    api_exchange.router,
    api_feedback.router,
    api_ckan.router,
    api_sql.router,
    api_verify_scenarios.router,
    api_verify.router,
    api_verify_schedules.router,
    api_grid_areas.router,
    api_grid_categories.router,
    api_grid_stats.router,
    api_grid_events.router,
    open311_router,
    jobs.router,
    login.router,
    home.router,
    catalog.router,
    exchange.router,
    subscription_pages.router,
    feedback_pages.router,
    verify_pages.router,
    verify_review_pages.router,
    verify_scenario_pages.router,
    verify_schedule_pages.router,
    grid_area_pages.router,
    grid_category_pages.router,
    grid_event_pages.router,
    grid_board_pages.router,
    grid_stats_pages.router,
    portal.router,
    account.router,
    admin_orgs.router,
    admin_users.router,
    admin_calendar.router,
    api_audit.router,
    audit.router,
)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the web app around one settings object and one metadata database."""
    settings = settings or get_settings()
    db = database or Database(settings.resolved_database_url)
    owns_db = database is None

    runner = job_runner(settings, db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runner is not None:
            runner.start()
        yield
        if runner is not None:
            runner.stop()
        _app.state.audit_log.close()  # reopens if the database is used again
        if owns_db:
            db.dispose()

    app = FastAPI(
        title="zhili 城市智理",
        version=zhili.__version__,
        description="City big-data bureau: catalog, exchange, audit and scenario apps.",
        lifespan=lifespan,
        docs_url=None,  # served by web/api/docs.py with local Swagger UI assets
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    app.state.db_gate = DatabaseGate(_gate_size(settings, db), settings.db_wait_seconds)
    app.state.audit_log = shared_log(db)  # one appender: group commit across requests
    app.state.jobs = runner
    problems.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    logging.getLogger("zhili").setLevel(logging.INFO)
    return app


def _gate_size(settings: Settings, db: Database) -> int:
    """ZHILI_DB_CONCURRENCY, no wider than the pool's steady size (its overflow is left
    for the audit appender and the job runner)."""
    pool_size = getattr(db.engine.pool, "size", None)
    size = pool_size() if callable(pool_size) else settings.db_concurrency
    return max(1, min(settings.db_concurrency, size))


def job_runner(settings: Settings, db: Database) -> JobRunner | None:
    """This process's share of the background job queue (none when ZHILI_JOB_WORKERS=0)."""
    # registers the load handlers, the escalation of overdue requests and objections,
    # the webhook sender of subscriptions, and the verification app's jobs and schedules
    import zhili.apps.grid.sweep
    import zhili.apps.verify.run
    import zhili.apps.verify.schedules
    import zhili.catalog.load_jobs
    import zhili.exchange.export_jobs
    import zhili.exchange.objections
    import zhili.exchange.requests
    import zhili.exchange.webhooks  # noqa: F401

    if settings.job_workers == 0:
        return None
    return JobRunner(db, settings.home, settings.secret_key, workers=settings.job_workers)


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every endpoint of the app, looking through included routers (FastAPI ≥ 0.16x wraps
    them), so tests and docs can walk all routes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)

"""Fixtures shared by the whole suite.

The database is SQLite by default and PostgreSQL when ``ZHILI_TEST_DATABASE_URL`` is set
(scripts/test.sh runs the suite both ways). Each pytest-xdist worker gets its own
database, migrated once with the real Alembic migrations; every test starts from empty
tables (truncated before the test), with its own ZHILI_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from zhili.access import system_actor
from zhili.audit import guard as audit_guard
from zhili.db import Base, Database, import_models, migrate
from zhili.identity.models import Organization, User
from zhili.identity.orgs import OrgSpec, upsert_org
from zhili.identity.users import UserSpec, create_user
from zhili.settings import Settings, get_settings
from zhili.web.app import create_app

import_models()
PASSWORD = "correct-horse-battery"


def _postgres_url(base: str, worker: str) -> str:
    """A database of its own for this xdist worker, created on the test cluster."""
    url = make_url(base)
    name = f"{url.database}_{worker}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    base = os.environ.get("ZHILI_TEST_DATABASE_URL")
    if base:
        url = _postgres_url(base, worker_id)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'zhili.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def _session_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return
    with db.engine.connect() as conn:
        # Self-referencing rows (the org tree) cannot be deleted in one pass with checks on.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        with audit_guard.lifted(conn):  # the audit log refuses DELETE (PostgreSQL: TRUNCATE)
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture()
def db(_session_db: Database) -> Database:
    """The worker's database with every table emptied (and this process's copy of the
    grid tree forgotten: a truncation is not an import)."""
    from zhili.apps.grid.area_tree import forget_area_trees

    _truncate(_session_db)
    forget_area_trees()
    return _session_db


@pytest.fixture()
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test: its own ZHILI_HOME, the worker's database."""
    home = tmp_path / "home"
    monkeypatch.setenv("ZHILI_HOME", str(home))
    monkeypatch.setenv("ZHILI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture()
def app(settings: Settings, db: Database):
    return create_app(settings, db)


@pytest.fixture()
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def seeded_calendar(db: Database) -> Database:
    from zhili.calendar.seed import seed_from_package

    with db.session() as session:
        seed_from_package(session, loaded_by="test")
    return db


@dataclass
class World:
    """A tiny city: a city root, the bureau, one department, a district with a street."""

    db: Database

    def org(
        self,
        code: str,
        name: str,
        level: str = "city",
        kind: str = "department",
        parent: str | None = None,
    ) -> Organization:
        with self.db.session() as session:
            org, _ = upsert_org(session, OrgSpec(code, name, level, kind, parent))
            return org

    def user(self, username: str, org: str, *roles: str, password: str = PASSWORD) -> User:
        with self.db.session() as session:
            return create_user(
                session,
                system_actor(),
                UserSpec(username, username.title(), org, tuple(roles), password),
            )


@pytest.fixture()
def world(db: Database) -> World:
    w = World(db)
    w.org("CITY", "示例市", "city", "government")
    w.org("BUREAU", "大数据管理中心", "city", "department", "CITY")
    w.org("PSB", "公安局", "city", "department", "CITY")
    w.org("D01", "和平区", "district", "government", "CITY")
    w.org("D01S01", "劝业场街道", "street", "government", "D01")
    w.org("D02", "河东区", "district", "government", "CITY")
    return w


@pytest.fixture()
def login(client: TestClient) -> Callable[[str, str], str]:
    """Log the test client in; returns the CSRF token to send with unsafe calls."""

    def do(username: str, password: str = PASSWORD) -> str:
        r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["csrf_token"]
        client.headers["X-CSRF-Token"] = token
        return token

    return do


@pytest.fixture()
def live_url(app) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, for real HTTP clients
    (chromium, ckanapi)."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)

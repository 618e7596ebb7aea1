"""Shared CLI plumbing: settings, database, a progress bar, and error reporting that names
the problem instead of printing a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from zhili.db import Database, migrate
from zhili.errors import ZhiliError
from zhili.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zhili.access import Actor

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
T = TypeVar("T")


def settings() -> Settings:
    return get_settings()


def database(apply_migrations: bool = True) -> Database:
    """The metadata database, migrated to the latest revision."""
    s = settings()
    s.home.mkdir(parents=True, exist_ok=True)
    if apply_migrations:
        migrate(s.resolved_database_url)
    return Database(s.resolved_database_url)


def friendly(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn domain errors into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ZhiliError as exc:
            err_console.print(f"[bold red]error[/] [dim]{exc.code}[/]: {exc.message('en')}")
            errors = exc.params.get("errors")
            for item in errors[:20] if isinstance(errors, list) else []:
                if isinstance(item, dict):
                    err_console.print(
                        f"  line {item.get('line')}, column {item.get('column')}: "
                        f"{item.get('message')}"
                    )
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def progress(transient: bool = False) -> Iterator[Progress]:
    """A rich progress bar with rate and time left."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
    with bar:
        yield bar


def echo_json(data: Any) -> None:
    console.print_json(data=data)


def as_user(username: str | None, act: Callable[[Session, Actor], T]) -> T:
    """``act(session, actor)`` as ``username`` (None: the platform itself), in one
    committed session of the configured database."""
    from zhili.access import system_actor
    from zhili.identity.auth import actor_for
    from zhili.identity.users import get_user

    db = database()
    try:
        with db.session() as session:
            actor = system_actor() if username is None else actor_for(get_user(session, username))
            return act(session, actor)
    finally:
        db.dispose()

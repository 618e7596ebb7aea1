"""Typed settings read from the environment (ZHILI_*), built by a factory, never at import."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from zhili.exchange.requests import ReviewPolicy

DEV_SECRET = "dev-insecure-secret-change-me"


class Settings(BaseSettings):
    """Everything an operator can set. Defaults give an embedded single-machine install."""

    model_config = SettingsConfigDict(env_prefix="ZHILI_", env_file=None, extra="ignore")

    home: Path = Field(default=Path("./.zhili"), description="Data directory (lake, files).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default: SQLite under home.",
    )
    engine: Literal["duckdb", "spark"] = Field(default="duckdb", description="Query engine.")
    secret_key: str = Field(default=DEV_SECRET, description="Signs CSRF tokens and hashes.")
    host: str = Field(default="127.0.0.1", description="Listen address of `zhili serve`.")
    port: int = Field(default=8000, ge=1, le=65535, description="Listen port.")
    production: bool = Field(default=False, description="Refuse unsafe defaults when true.")
    session_hours: int = Field(default=12, ge=1, description="Lifetime of a login session.")
    default_locale: Literal["zh-CN", "en"] = Field(default="zh-CN", description="UI language.")
    source_drivers: str = Field(
        default="postgresql,mysql,mssql,oracle",
        description="Database backends departments may load from (comma-separated).",
    )
    job_workers: int = Field(default=1, ge=0, le=32, description="Background job threads.")
    db_concurrency: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Requests per process that hold a database session at once (capped at "
        "the connection pool's size); the rest queue.",
    )
    db_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long a queued request waits for a session before a 503.",
    )
    review_days: int = Field(
        default=5, ge=1, le=30, description="Working days a provider has to decide a request."
    )
    auto_approve: bool = Field(
        default=True,
        description="Unconditional requests pass the automatic compliance check.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow subscription callbacks to loopback, link-local or private addresses.",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Webhook attempts before a delivery is dead-lettered."
    )
    webhook_backoff_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="First retry delay; doubles on each failure."
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long a webhook receiver may take to answer."
    )
    objection_days: int = Field(
        default=5, ge=1, le=30, description="Working days a provider has to answer an objection."
    )
    grid_auto_dispatch: str = Field(
        default="grid_worker,hotline",
        description="Report sources registered and dispatched at once (comma-separated).",
    )
    grid_photo_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="Largest event photo accepted, in bytes.",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def model_post_init(self, __context: object) -> None:
        if self.production and self.secret_key == DEV_SECRET:
            raise ValueError(
                "ZHILI_SECRET_KEY must be set in production "
                f"(for example: ZHILI_SECRET_KEY={secrets.token_urlsafe(32)})"
            )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ZHILI_HOME."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.home / 'zhili.db'}"

    @property
    def allowed_source_drivers(self) -> tuple[str, ...]:
        return tuple(d.strip() for d in self.source_drivers.split(",") if d.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def review_policy(self) -> ReviewPolicy:
        """The exchange's review settings as the request service takes them."""
        from zhili.exchange.requests import ReviewPolicy  # lazy: settings sit below it

        return ReviewPolicy(self.review_days, self.auto_approve)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings. Tests call `get_settings.cache_clear()` after changing env."""
    return Settings()

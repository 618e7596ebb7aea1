"""Settings come from the environment, default to an embedded install, and refuse an
unsafe production configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zhili.settings import DEV_SECRET, Settings


def test_defaults_are_embedded(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHILI_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHILI_HOME", str(tmp_path))
    s = Settings()
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'zhili.db'}"
    assert s.engine == "duckdb" and s.is_sqlite


def test_postgres_url_uses_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHILI_DATABASE_URL", "postgresql://u:p@db:5432/zhili")
    assert Settings().resolved_database_url == "postgresql+psycopg://u:p@db:5432/zhili"


def test_production_refuses_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHILI_PRODUCTION", "true")
    monkeypatch.setenv("ZHILI_SECRET_KEY", DEV_SECRET)
    with pytest.raises(ValidationError, match="ZHILI_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("ZHILI_SECRET_KEY", "a-real-secret-of-enough-length")
    assert Settings().production


@pytest.mark.parametrize(("var", "value"), [("ZHILI_ENGINE", "oracle"), ("ZHILI_PORT", "0")])
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert var.removeprefix("ZHILI_").lower() in str(exc.value)

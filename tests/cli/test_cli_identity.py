"""`zhili user|org|token|calendar` from a shell: clear one-line errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhili.cli.main import app

runner = CliRunner()


@pytest.fixture()
def cli(settings, db):
    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


ORGS = """code,name,level,kind,parent_code
CITY,示例市,city,government,
PSB,公安局,city,department,CITY
"""


def test_init_seeds_calendar(cli) -> None:
    r = cli("init")
    assert r.exit_code == 0, r.output
    assert "2004–2026" in r.output or "2004" in r.output


def test_org_import_user_add_token_create_revoke(cli, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_text(ORGS, encoding="utf-8")
    r = cli("org", "import", str(f))
    assert r.exit_code == 0, r.output
    assert "2 created" in r.output
    r = cli(
        "user",
        "add",
        "wang",
        "--org",
        "PSB",
        "--role",
        "analyst",
        "--password-stdin",
        input="long-enough-pw\n",
    )
    assert r.exit_code == 0, r.output
    r = cli("token", "create", "wang", "--name", "etl", "--scope", "identity:read")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("zhl_")
    r = cli("token", "revoke", token)
    assert r.exit_code == 0 and "revoked" in r.output
    r = cli("token", "list", "wang")
    assert "revoked" in r.output and token not in r.output


def test_unknown_role_lists_valid_ones(cli) -> None:
    r = cli("user", "add", "x.y", "--org", "PSB", "--role", "wizard", "--password", "whatever1")
    assert r.exit_code == 2
    assert "wizard" in r.output and "care_operator" in r.output
    assert "Traceback" not in r.output


def test_bad_org_csv_names_line_and_column(cli, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_text(ORGS + "BAD,坏,galaxy,department,CITY\n", encoding="gb18030")
    r = cli("org", "import", str(f))
    assert r.exit_code == 2
    assert "line 4" in r.output and "level" in r.output
    assert "Traceback" not in r.output


def test_duplicate_user_is_a_clear_error(cli, tmp_path: Path) -> None:
    f = tmp_path / "orgs.csv"
    f.write_text(ORGS)
    cli("org", "import", str(f))
    args = ("user", "add", "li", "--org", "PSB", "--role", "analyst", "--password", "long-enough")
    assert cli(*args).exit_code == 0
    r = cli(*args)
    assert r.exit_code == 2 and "already taken" in r.output


def test_calendar_unknown_year_is_an_error(cli, tmp_path: Path) -> None:
    cli("calendar", "seed")
    ok = cli("calendar", "check", "2024-02-04")
    assert ok.exit_code == 0 and "working day" in ok.output
    r = cli("calendar", "check", "2031-05-01")
    assert r.exit_code == 2 and "2031" in r.output
    notice = tmp_path / "n.csv"
    notice.write_text("date,kind,name\n2031-01-01,holiday,元旦\n2031-02-30,holiday,坏\n")
    r = cli("calendar", "load", "2031", str(notice))
    assert r.exit_code == 2 and "3" in r.output

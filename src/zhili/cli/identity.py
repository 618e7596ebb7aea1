"""`zhili user …`, `zhili org …` and `zhili token …`: administration from a shell.

These act as the platform itself (a platform-admin actor named "cli"): whoever can run
commands on the server already controls the database.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from zhili.access import SCOPES, parse_role, system_actor
from zhili.cli.common import console, database, err_console, friendly
from zhili.errors import ZhiliError
from zhili.identity import org_csv, tokens, users
from zhili.web.api.orgs import decode_csv

CLI_ACTOR = system_actor("cli")

user_app = typer.Typer(help="Users: add, list.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations: import the tree from CSV, list.", no_args_is_help=True)
token_app = typer.Typer(
    help="API tokens: create (printed once), list, revoke.", no_args_is_help=True
)


def _roles(values: list[str]) -> list[str]:
    try:
        return [parse_role(v).value for v in values]
    except ZhiliError as exc:
        raise typer.BadParameter(exc.message("en"), param_hint="--role") from None


@user_app.command("add")
@friendly
def user_add(
    username: str,
    org: Annotated[str, typer.Option("--org", help="Organization code.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="Role (repeatable).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option("--password", help="Password (else prompted or stdin).")
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Create a user in an organization with one or more roles."""
    roles = _roles(role)
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
        )
    db = database()
    with db.session() as session:
        user = users.create_user(
            session,
            CLI_ACTOR,
            users.UserSpec(
                username=username,
                display_name=name,
                org_code=org,
                roles=tuple(roles),
                password=password,
            ),
        )
        console.print(f"created user [bold]{user.username}[/] in {org} with {', '.join(roles)}")


@user_app.command("list")
@friendly
def user_list(org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """List users."""
    db = database()
    with db.session() as session:
        rows, total = users.list_users(session, CLI_ACTOR, org_code=org, limit=1000)
        for u in rows:
            console.print(f"{u.username:20} {u.org.code:20} {','.join(sorted(u.roles))}")
        err_console.print(f"{total} users")


@org_app.command("import")
@friendly
def org_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Create or update organizations from CSV (columns: code,name,level,kind,parent_code
    [,name_en,region_code]). One bad line rejects the file and names the line and column."""
    text = decode_csv(file.read_bytes())
    db = database()
    with db.session() as session:
        report = org_csv.import_org_csv(session, CLI_ACTOR, text)
    console.print(f"imported {file.name}: {report.created} created, {report.updated} updated")


@org_app.command("list")
@friendly
def org_list(level: Annotated[str | None, typer.Option("--level")] = None) -> None:
    """List organizations in tree order."""
    from zhili.identity.orgs import list_orgs

    db = database()
    with db.session() as session:
        rows, total = list_orgs(session, CLI_ACTOR, level=level, limit=100_000)
        for o in rows:
            depth = o.path.count("/") - 2
            console.print(f"{'  ' * depth}{o.code}  {o.name}  [dim]{o.level}/{o.kind}[/]")
        err_console.print(f"{total} organizations")


@token_app.command("create")
@friendly
def token_create(
    username: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help=f"Repeatable; one of {', '.join(SCOPES)}")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366)] = 90,
    system: Annotated[str | None, typer.Option("--system", help="Calling system.")] = None,
) -> None:
    """Issue an API token; the secret is printed once on stdout (details on stderr)."""
    db = database()
    with db.session() as session:
        issued = tokens.create_token(
            session,
            CLI_ACTOR,
            username=username,
            name=name,
            scopes=scope,
            days=days,
            system=system,
        )
        err_console.print(
            f"token {issued.token.prefix} for {username}, scopes "
            f"{', '.join(issued.token.scopes)}, expires {issued.token.expires_at:%Y-%m-%d}"
        )
    typer.echo(issued.plaintext)


@token_app.command("revoke")
@friendly
def token_revoke(
    token: Annotated[str, typer.Argument(help="Token id, prefix or the token.")],
) -> None:
    """Revoke a token; its next call is refused."""
    db = database()
    with db.session() as session:
        if token.isdigit():
            revoked = tokens.revoke_token(session, CLI_ACTOR, int(token))
        else:
            prefix = token.split("_")[1] if token.startswith("zhl_") else token
            revoked = tokens.revoke_by_prefix(session, CLI_ACTOR, prefix)
        console.print(f"revoked token {revoked.prefix} ({revoked.name}) of {revoked.user.username}")


@token_app.command("list")
@friendly
def token_list(username: str) -> None:
    """List a user's tokens (never their secrets)."""
    db = database()
    with db.session() as session:
        for t in tokens.list_tokens(session, CLI_ACTOR, username):
            state = "revoked" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            console.print(
                f"{t.id:5} {t.prefix} {t.name:20} {state:8} "
                f"expires {t.expires_at:%Y-%m-%d} last used {used}"
            )

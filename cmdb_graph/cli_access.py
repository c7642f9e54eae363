"""`cmdb-graph apikey create | list | revoke`. The CLI holds the database's own credentials,
so it acts as an admin; what it does is audited under the CLI's actor."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from cmdb_graph.access.keys import ApiKeyError, create_key, list_keys, revoke_key
from cmdb_graph.access.roles import Role
from cmdb_graph.cli import app, connected, err, fail, out, print_json, settings
from cmdb_graph.schema import init_schema

apikey_app = typer.Typer(help="API keys for the GraphQL service (sent as `Authorization: Bearer <key>`).",
                         no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    role: Annotated[Role, typer.Option(help="viewer, editor, change-manager or admin", case_sensitive=False)],
    name: Annotated[str, typer.Option(help="who or what uses it (unique among active keys); audit entries name it")],
) -> None:
    """Create a key and print it, alone, on standard output (it is shown this once):
    KEY=$(cmdb-graph apikey create --role viewer --name grafana)"""
    config = settings()
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        try:
            made = create_key(driver, target.database, name, role, config.actor)
        except ApiKeyError as error:
            fail(str(error))
    sys.stdout.write(made.secret + "\n")
    err.print(f"created {made.key.role.value} key {made.key.name!r} (id {made.key.id}); store it now, "
              "it cannot be shown again", style="dim", highlight=False)


@apikey_app.command("list")
def apikey_list(
    all_keys: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The keys (never their secrets): id, name, role, when and by whom created or revoked."""
    config = settings()
    with connected(config) as (target, driver):
        keys = list_keys(driver, target.database, include_revoked=all_keys)
    if as_json:
        print_json([key.model_dump(mode="json") for key in keys])
        return
    if not keys:
        out.print("no keys (cmdb-graph apikey create --role ROLE --name NAME)")
        return
    table = Table("id", "name", "role", "created", "by", "revoked")
    for key in keys:
        table.add_row(key.id, key.name, key.role.value, f"{key.created_at:%Y-%m-%d %H:%M}", key.created_by,
                      f"{key.revoked_at:%Y-%m-%d %H:%M} by {key.revoked_by}" if key.revoked_at else "")
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key: Annotated[str, typer.Argument(help="the key's id or name")]) -> None:
    """Revoke an active key; a running service stops accepting it within api_key_cache_seconds."""
    config = settings()
    with connected(config) as (target, driver):
        try:
            revoked = revoke_key(driver, target.database, key, config.actor)
        except ApiKeyError as error:
            fail(str(error))
    out.print(f"revoked {revoked.role.value} key {revoked.name!r} (id {revoked.id})", highlight=False)

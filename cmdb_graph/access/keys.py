"""API keys: created, listed and revoked from the CLI (or by an admin over GraphQL), checked
on every request.

A key is `cmdbg_<id>_<secret>`. Only its SHA-256 is stored: the secret is 256 random bits, so
a slow password hash would add nothing but latency to every request. The public `id` finds the
node through its unique constraint; the digest is compared in constant time. Creating and
revoking a key each write an audit entry, like every other write."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime, timezone

from neo4j import AsyncDriver, Driver, ManagedTransaction
from pydantic import BaseModel

from cmdb_graph.access.roles import Role
from cmdb_graph.store import WRITE_AUDIT

PREFIX = "cmdbg"
KEY_SHAPE = re.compile(r"^cmdbg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
NAME_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ApiKeyError(ValueError):
    """A key that cannot be created or revoked as asked; the message says why."""


class ApiKey(BaseModel):
    """A key as stored, without its secret."""

    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def actor(self) -> str:
        """How audit entries name writes made with this key."""
        return actor_of(self.name, self.id)


class NewKey(BaseModel):
    key: ApiKey
    secret: str  # the whole `cmdbg_...` string, shown once


def actor_of(name: str, key_id: str) -> str:
    return f"apikey:{name}:{key_id}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The public id of a well-formed key, else None (nothing is looked up for garbage)."""
    match = KEY_SHAPE.match(secret)
    return match.group(1) if match else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _audit(tx: ManagedTransaction, action: str, key: ApiKey, actor: str, changed: list[str]) -> None:
    entry = {
        "id": str(uuid.uuid4()), "at": _now(), "actor": actor, "action": action, "entity_kind": "ApiKey",
        "entity_id": key.id, "version": None, "changed": changed, "before": None,
        "after": key.model_dump_json(include={"id", "name", "role", "revoked_at"}),
    }
    tx.run(WRITE_AUDIT, entries=[entry]).consume()


ACTIVE_NAME_TAKEN = "MATCH (k:ApiKey {name: $name}) WHERE k.revoked_at IS NULL RETURN count(k) AS n"
CREATE_KEY = """
CREATE (k:ApiKey {id: $id, name: $name, role: $role, hash: $hash, created_at: $created_at, created_by: $created_by})
"""


def create_key(driver: Driver, database: str, name: str, role: Role, actor: str) -> NewKey:
    """A new key; its name must be free among the keys not revoked, so `revoke NAME` is unambiguous."""
    if not NAME_SHAPE.match(name):
        raise ApiKeyError(f"name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    key_id = secrets.token_hex(6)
    secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=key_id, name=name, role=Role(role), created_at=_now(), created_by=actor)

    def work(tx: ManagedTransaction) -> None:
        if tx.run(ACTIVE_NAME_TAKEN, name=name).single(strict=True)["n"]:
            raise ApiKeyError(f"name {name!r}: an active key has that name already (revoke it first, or pick another)")
        tx.run(CREATE_KEY, id=key.id, name=name, role=key.role.value, hash=digest(secret),
               created_at=key.created_at, created_by=actor).consume()
        _audit(tx, "create", key, actor, ["name", "role"])

    with driver.session(database=database) as session:
        session.execute_write(work)
    return NewKey(key=key, secret=secret)


KEY_FIELDS = "k.id AS id, k.name AS name, k.role AS role, k.created_at AS created_at, k.created_by AS created_by, " \
             "k.revoked_at AS revoked_at, k.revoked_by AS revoked_by"
LIST_KEYS = f"MATCH (k:ApiKey) RETURN {KEY_FIELDS} ORDER BY k.created_at, k.id"


def _key(row: dict) -> ApiKey:
    return ApiKey.model_validate({k: (v.to_native() if hasattr(v, "to_native") else v) for k, v in row.items()})


def list_keys(driver: Driver, database: str, include_revoked: bool = True) -> list[ApiKey]:
    records, _, _ = driver.execute_query(LIST_KEYS, database_=database, routing_="r")
    keys = [_key(record.data()) for record in records]
    return [key for key in keys if include_revoked or key.revoked_at is None]


REVOKE_KEY = f"""
MATCH (k:ApiKey) WHERE (k.id = $ref OR k.name = $ref) AND k.revoked_at IS NULL
SET k.revoked_at = $at, k.revoked_by = $actor
RETURN {KEY_FIELDS}
"""


def revoke_key(driver: Driver, database: str, ref: str, actor: str) -> ApiKey:
    """Revoke the active key with this id or name. A revoked key stays listed, so the audit
    trail's key names keep meaning something."""

    def work(tx: ManagedTransaction) -> ApiKey:
        rows = [record.data() for record in tx.run(REVOKE_KEY, ref=ref, at=_now(), actor=actor)]
        if not rows:
            raise ApiKeyError(f"no active key with id or name {ref!r}")
        key = _key(rows[0])
        _audit(tx, "revoke", key, actor, ["revoked_at"])
        return key

    with driver.session(database=database) as session:
        return session.execute_write(work)


FIND_KEY = f"MATCH (k:ApiKey {{id: $id}}) WHERE k.revoked_at IS NULL RETURN k.hash AS hash, {KEY_FIELDS}"


async def authenticate(driver: AsyncDriver, database: str, secret: str) -> ApiKey | None:
    """The active key this secret is, or None."""
    key_id = key_id_of(secret)
    if key_id is None:
        return None
    records, _, _ = await driver.execute_query(FIND_KEY, id=key_id, database_=database, routing_="r")
    if not records:
        return None
    row = records[0].data()
    if not hmac.compare_digest(row.pop("hash"), digest(secret)):
        return None
    return _key(row)

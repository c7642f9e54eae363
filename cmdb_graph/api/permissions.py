"""Authentication of a request (its `Authorization: Bearer` key) and the permission classes
that guard mutations and sensitive fields. A refused field raises FORBIDDEN before its
resolver runs, so it writes nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from neo4j import AsyncDriver
from strawberry.permission import BasePermission
from strawberry.types import Info

from cmdb_graph.access.keys import ApiKey, authenticate, digest
from cmdb_graph.access.roles import Role, allows
from cmdb_graph.api.errors import ApiError, Code


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a key's name, id and role, or the service itself when
    authentication is switched off."""

    name: str
    role: Role
    actor: str
    key_id: str | None = None

    @classmethod
    def of_key(cls, key: ApiKey) -> Principal:
        return cls(name=key.name, role=key.role, actor=key.actor, key_id=key.id)


class Unauthenticated(Exception):
    """No key, a malformed one, or one that is unknown or revoked: answered with HTTP 401."""


class KeyCache:
    """Recently checked keys, so a dashboard's every request is not a lookup. Entries live
    `seconds` (0 turns the cache off): a revoked key stops working within that time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[float, Principal]] = {}

    async def principal(self, driver: AsyncDriver, database: str, secret: str) -> Principal:
        cache_key = digest(secret)
        hit = self._found.get(cache_key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        key = await authenticate(driver, database, secret)
        if key is None:
            self._found.pop(cache_key, None)
            raise Unauthenticated("the API key is unknown or revoked")
        principal = Principal.of_key(key)
        if self.seconds > 0:
            if len(self._found) > 10_000:
                self._found.clear()
            self._found[cache_key] = (time.monotonic() + self.seconds, principal)
        return principal


def bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("send an API key as `Authorization: Bearer <key>` (cmdb-graph apikey create)")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <key>`")
    return secret.strip()


def forbidden(principal: Principal, needed: Role, what: str) -> ApiError:
    return ApiError(Code.FORBIDDEN, f"{what} needs the {needed.value} role; key {principal.name!r} is a {principal.role.value}",
                    role=principal.role.value, needed=needed.value)


def require(info: Info[Any, Any], needed: Role, what: str) -> None:
    """For checks that depend on the data written (approving a change), inside a resolver."""
    principal: Principal = info.context.principal
    if not allows(principal.role, needed):
        raise forbidden(principal, needed, what)


class _RolePermission(BasePermission):
    needed: Role

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        # Raised rather than returned: the message names the role, and a permission instance
        # is shared by every request, so it cannot carry one request's message.
        require(info, self.needed, f"`{info.field_name}`")
        return True


class CanEdit(_RolePermission):
    """Writes to CIs, relationships and records."""

    needed = Role.EDITOR


class CanApproveChanges(_RolePermission):
    needed = Role.CHANGE_MANAGER


class IsAdmin(_RolePermission):
    """Keys and everything about them."""

    needed = Role.ADMIN

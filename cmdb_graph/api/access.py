"""GraphQL for access: who am I, and (for admins) the keys."""

from __future__ import annotations

from datetime import datetime

import anyio
import strawberry
from strawberry.types import Info

from cmdb_graph.access import keys
from cmdb_graph.access.roles import Role as RoleValue
from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import ApiError, Code, validation_error
from cmdb_graph.api.permissions import IsAdmin

Role = strawberry.enum(RoleValue, name="Role", description="viewer < editor < change-manager < admin; each includes the ones before")


@strawberry.type(description="An API key as stored: never its secret")
class ApiKey:
    id: strawberry.ID
    name: str
    role: Role  # type: ignore[valid-type]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, key: keys.ApiKey) -> ApiKey:
        return cls(id=strawberry.ID(key.id), name=key.name, role=key.role, created_at=key.created_at,
                   created_by=key.created_by, revoked_at=key.revoked_at, revoked_by=key.revoked_by)


@strawberry.type(description="A new key with its secret, shown this once")
class NewApiKey:
    key: ApiKey
    secret: str


@strawberry.type(description="Who the request acts for")
class Me:
    name: str
    role: Role  # type: ignore[valid-type]
    key_id: strawberry.ID | None
    actor: str = strawberry.field(description="how audit entries name this key's writes")


def _key_error(error: keys.ApiKeyError, field: str) -> ApiError:
    if str(error).startswith("no active key"):
        return ApiError(Code.NOT_FOUND, str(error))
    return validation_error(f"{field}: {error}", fields=[{"field": field, "message": str(error)}])


@strawberry.type
class AccessQuery:
    @strawberry.field(description="The key this request was made with, and its role")
    def me(self, info: Info[Context, None]) -> Me:
        principal = info.context.principal
        return Me(name=principal.name, role=principal.role, actor=principal.actor,
                  key_id=strawberry.ID(principal.key_id) if principal.key_id else None)

    @strawberry.field(description="Every API key, revoked ones included (admin)", permission_classes=[IsAdmin])
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKey]:
        store = info.context.store
        found = await anyio.to_thread.run_sync(lambda: keys.list_keys(store.driver, store.database))
        return [ApiKey.of(key) for key in found]


@strawberry.type
class AccessMutation:
    @strawberry.mutation(description="A new API key; its secret is in the answer and nowhere else (admin)",
                         permission_classes=[IsAdmin])
    async def create_api_key(self, info: Info[Context, None], name: str, role: Role) -> NewApiKey:  # type: ignore[valid-type]
        store, actor = info.context.store, info.context.actor
        try:
            made = await anyio.to_thread.run_sync(
                lambda: keys.create_key(store.driver, store.database, name, RoleValue(role), actor))
        except keys.ApiKeyError as error:
            raise _key_error(error, "name") from error
        return NewApiKey(key=ApiKey.of(made.key), secret=made.secret)

    @strawberry.mutation(description="Revoke an active key by id or name (admin)", permission_classes=[IsAdmin])
    async def revoke_api_key(self, info: Info[Context, None], key: str) -> ApiKey:
        store, actor = info.context.store, info.context.actor
        try:
            revoked = await anyio.to_thread.run_sync(lambda: keys.revoke_key(store.driver, store.database, key, actor))
        except keys.ApiKeyError as error:
            raise _key_error(error, "key") from error
        return ApiKey.of(revoked)

"""Limits that keep one request from starving the others: a cost estimate checked before an
operation runs, and a cap on the request body. (Depth and aliases are strawberry's limiters; the
Neo4j transaction timeout is set on every transaction the service opens.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from cmdb_graph.api.errors import COST_PREFIX, Code

# An unpaged list (a CI's relationships, its history, an analysis's rows) counts as
# LIST_GUESS items; a paged one as its `first`, from the literal, the variable, or the
# argument's default.
LIST_GUESS = 20


@dataclass(frozen=True)
class Costing:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    default_page: int


def _page(costing: Costing, field: FieldNode, definition: GraphQLField) -> int | None:
    if "first" not in definition.args:
        return None
    value: Any = None
    for argument in field.arguments or ():
        if argument.name.value == "first":
            node = argument.value
            value = costing.variables.get(node.name.value) if isinstance(node, VariableNode) else getattr(node, "value", None)
    if value is None:
        value = definition.args["first"].default_value
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return costing.default_page  # not an integer: coercion reports it


def selection_cost(costing: Costing, parent: GraphQLNamedType | None, selections: SelectionSetNode | None,
                   seen: frozenset[str] = frozenset()) -> int:
    """Fields resolved by one selection set, each list multiplying what is below it."""
    if selections is None or not isinstance(parent, GraphQLObjectType):
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            definition = parent.fields.get(selection.name.value)
            if definition is None:
                continue  # validation reports unknown fields
            returns = get_nullable_type(definition.type)
            factor = _page(costing, selection, definition)
            if selection.name.value == "edges" and "pageInfo" in parent.fields:
                factor = 1  # a connection's page was counted at the connection
            elif factor is None:
                factor = LIST_GUESS if isinstance(returns, GraphQLList) else 1
            total += 1 + factor * selection_cost(costing, get_named_type(returns), selection.selection_set, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = costing.schema.get_type(condition.name.value) if condition else parent
            total += selection_cost(costing, target, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = costing.fragments.get(name)
            if fragment is None or name in seen:
                continue  # validation reports unknown and cyclic fragments
            target = costing.schema.get_type(fragment.type_condition.name.value)
            total += selection_cost(costing, target, fragment.selection_set, seen | {name})
    return total


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                   variables: dict[str, Any] | None, default_page: int) -> int:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1:
        return 0  # execution reports a missing or ambiguous operation
    operation = chosen[0]
    root = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type}[operation.operation]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return selection_cost(Costing(schema, fragments, variables or {}, default_page), root, operation.selection_set)


def cost_error(cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"{COST_PREFIX}: the operation would resolve about {cost:,} fields, at most {max_cost:,} are allowed "
        f"(each list counts at its page size `first`, or {LIST_GUESS} when it has none); "
        "ask for smaller pages or fewer nested lists"
    )


def cost_limit(max_cost: int, default_page: int) -> type[SchemaExtension]:
    """An extension refusing, before it runs, an operation whose estimated cost (fields
    resolved, each list at its page size) is above `max_cost`. It runs after validation,
    with the variables, so `first: $n` counts as what `$n` is."""

    class CostLimit(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            schema = context.schema._schema
            if context.graphql_document is not None:
                cost = operation_cost(schema, context.graphql_document, context.operation_name, context.variables,
                                      default_page)
                if cost > max_cost:
                    context.result = ExecutionResult(data=None, errors=[cost_error(cost, max_cost)])
            yield

    return CostLimit


class BodySizeLimit:
    """Refuses a request body above `max_bytes` with 413 and a GraphQL-shaped LIMIT error,
    counting what arrives (a client may lie in Content-Length or send it chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"errors": [{
            "message": f"the request body is larger than {self.max_bytes:,} bytes (api_max_body_bytes)",
            "extensions": {"code": Code.LIMIT.value, "limit": "body size"},
        }]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass

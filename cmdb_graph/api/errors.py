"""Stable error codes in `extensions.code`, so clients branch on a code, not a message."""

from __future__ import annotations

from enum import Enum
from typing import Any

from graphql import GraphQLError
from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired, TransientError
from pydantic import ValidationError

from impact.topology import AnalysisError, AnalysisLimitError
from cmdb_graph.store import ConflictError, HasDependentsError, NotFoundError, StoreError, WriteContended


class Code(str, Enum):
    NOT_FOUND = "NOT_FOUND"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    LIMIT = "LIMIT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class ApiError(Exception):
    def __init__(self, code: Code, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


COST_PREFIX = "query cost limit"


def limit_error(message: str) -> ApiError:
    return ApiError(Code.LIMIT, message)


def validation_error(message: str, **details: Any) -> ApiError:
    return ApiError(Code.VALIDATION, message, **details)


def pydantic_errors(error: ValidationError, prefix: str) -> ApiError:
    """One VALIDATION error listing every bad field as `prefix.field: message`."""
    problems = []
    for detail in error.errors():
        where = ".".join(str(part) for part in (prefix, *detail["loc"]) if part != "")
        problems.append({"field": where, "message": detail["msg"].removeprefix("Value error, ")})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return ApiError(Code.VALIDATION, summary, fields=problems)


UNAVAILABLE_MESSAGE = "the graph database is unavailable; try again shortly"
TIMED_OUT_MESSAGE = "the request ran longer than its database transaction may (api_tx_timeout_seconds); ask for less"


# Neo4j ends a transaction past its timeout with TransactionTimedOut..., or, when it was
# waiting for a lock at that moment, with LockClientStopped
TIMEOUT_CODES = ("Neo.ClientError.Transaction.TransactionTimedOut", "Neo.ClientError.Transaction.LockClientStopped")


def timed_out(error: BaseException) -> bool:
    return isinstance(error, ClientError) and (error.code or "").startswith(TIMEOUT_CODES)


def classify(original: BaseException | None, message: str) -> tuple[Code, str, dict[str, Any]]:
    """The code, the message a client may see, and details, for any error."""
    if isinstance(original, ApiError):
        return original.code, str(original), original.details
    if isinstance(original, GraphQLError):  # e.g. a variable that does not fit its type
        return classify(original.original_error, message)
    if isinstance(original, WriteContended):
        return Code.CONFLICT, str(original), {}
    if isinstance(original, ConflictError):
        return Code.CONFLICT, str(original), {"currentVersion": original.current_version}
    if isinstance(original, NotFoundError):
        return Code.NOT_FOUND, str(original), {}
    if isinstance(original, AnalysisLimitError):
        return Code.LIMIT, str(original), {"limit": "analysis"}
    if isinstance(original, AnalysisError):
        return Code.VALIDATION, str(original), {}
    if isinstance(original, (HasDependentsError, StoreError)):
        return Code.VALIDATION, str(original), {}
    if isinstance(original, ValidationError):
        error = pydantic_errors(original, "")
        return error.code, str(error), error.details
    if original is not None and timed_out(original):
        return Code.LIMIT, TIMED_OUT_MESSAGE, {"limit": "transaction timeout"}
    if isinstance(original, TransientError):  # a deadlock or lock wait that outlasted the driver's retries
        return Code.CONFLICT, "the write collided with concurrent writes and was not applied; try again", {}
    if isinstance(original, (ServiceUnavailable, SessionExpired, ConnectionError, OSError)):
        return Code.UNAVAILABLE, UNAVAILABLE_MESSAGE, {}
    if original is None:
        if "exceeds maximum operation depth" in message:
            return Code.LIMIT, f"query depth limit: {message}", {"limit": "depth"}
        if "aliases found" in message:
            return Code.LIMIT, f"alias limit: {message}", {"limit": "aliases"}
        if message.startswith(COST_PREFIX):
            return Code.LIMIT, message, {"limit": "cost"}
        return Code.VALIDATION, message, {}
    return Code.INTERNAL, "internal error; the server log has the details", {}


def with_code(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    code, message, details = classify(error.original_error, error.message)
    return GraphQLError(
        message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
        original_error=error.original_error, extensions={**(error.extensions or {}), "code": code.value, **details},
    )

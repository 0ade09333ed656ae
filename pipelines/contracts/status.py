"""One status table for every transport: a stable code maps to an HTTP status and a gRPC status code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipelines.contracts.text import one_line

# code → (HTTP status, gRPC status code name)
STATUS = {
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED"),
    "PERMISSION_DENIED": (403, "PERMISSION_DENIED"),
    "NOT_FOUND": (404, "NOT_FOUND"),
    "ALREADY_EXISTS": (409, "ALREADY_EXISTS"),
    "PURGED": (410, "NOT_FOUND"),  # removed by the retention policy: a tombstone answers for it
    "FAILED_PRECONDITION": (412, "FAILED_PRECONDITION"),
    "RESOURCE_EXHAUSTED": (429, "RESOURCE_EXHAUSTED"),
    "INTERNAL": (500, "INTERNAL"),
    "UNIMPLEMENTED": (501, "UNIMPLEMENTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "DEADLINE_EXCEEDED": (504, "DEADLINE_EXCEEDED"),
}


@dataclass(frozen=True)
class Detail:
    field: str
    issue: str


# The longest message an error carries: one that repeats what a client sent (an id of 10,000 characters) is cut,
# ending in "…", so that gRPC's status headers stay within a client's default limit (8 KiB of metadata: the
# message goes there twice, percent-encoded and in the packed status); the details say what was wrong.
MAX_MESSAGE = 400


class ServiceError(Exception):
    """An application-level refusal with a stable code; transports render it, none decides it."""

    code = "INTERNAL"

    def __init__(self, message: str, details: Sequence[Detail] = ()) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message
        self.details = list(details)

    @property
    def summary(self) -> str:
        """One line for a command's refusal: the code, the message and what each detail says was wrong (unless the
        message says it already). A control character it repeats from the input is escaped (``\\x1b``, ``\\n``): it
        stays one line, and an escape sequence does not reach the operator's terminal."""
        return self.summary_naming({})

    def summary_naming(self, flags: Mapping[str, str]) -> str:
        """The summary, each detail's field called by ``flags`` when it is there: a command's user typed
        ``--courier``, not the API's ``courierId``."""
        said = "; ".join(
            f"{flags.get(d.field, d.field)}: {d.issue}" for d in self.details if d.issue not in self.message
        )
        line = f"{self.code}: {self.message}" + (f" ({said})" if said else "")
        return one_line(line)

    @property
    def http_status(self) -> int:
        return STATUS[self.code][0]

    @property
    def grpc_code(self) -> str:
        return STATUS[self.code][1]


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"


class NotFound(ServiceError):
    code = "NOT_FOUND"


class Purged(ServiceError):
    """The trace this key or id named was removed by the retention policy; only its tombstone is left."""

    code = "PURGED"


class AlreadyExists(ServiceError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class Unavailable(ServiceError):
    code = "UNAVAILABLE"


class ResourceExhausted(ServiceError):
    code = "RESOURCE_EXHAUSTED"


class Unimplemented(ServiceError):
    code = "UNIMPLEMENTED"

"""The checkpoint-pipeline engine's public face: everything a domain (``checkout``, ``opsconsole``, ``ftgo``,
``access``, ``tpfgo_site``, ``bench``) may use, and nothing else.

A domain imports from here (``from pipelines import Step, StepContext, composition``) and from ``pipelines.models``
(Django's place for the engine's models); the engine's sub-packages (``contracts``, ``store``, ``failures``,
``engine``, ``recovery``, ``transport``) are internal, and an import-linter contract in ``make lint`` fails when a
domain imports one of them (docs/architecture.md, "The engine's layout"). The engine knows nothing of orders.

The names are loaded lazily (PEP 562): Django imports this package before its app registry is ready, and most of
these names need the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> (module, attribute in it; None for a module exported as a namespace)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    # Writing steps and declaring a composition
    "AWAIT": ("pipelines.contracts.steps", "AWAIT"),
    "SKIP": ("pipelines.contracts.steps", "SKIP"),
    "Await": ("pipelines.contracts.steps", "Await"),
    "Command": ("pipelines.contracts.steps", "Command"),
    "Execution": ("pipelines.contracts.steps", "Execution"),
    "Output": ("pipelines.contracts.steps", "Output"),
    "Split": ("pipelines.contracts.steps", "Split"),
    "Produced": ("pipelines.contracts.steps", "Produced"),
    "StepContext": ("pipelines.contracts.steps", "StepContext"),
    "StepStatus": ("pipelines.contracts.steps", "StepStatus"),
    "Branch": ("pipelines.contracts.declarations", "Branch"),
    "BranchNeed": ("pipelines.contracts.declarations", "BranchNeed"),
    "BranchRole": ("pipelines.contracts.declarations", "BranchRole"),
    "aux": ("pipelines.contracts.declarations", "aux"),
    "outcome": ("pipelines.contracts.declarations", "outcome"),
    "primary": ("pipelines.contracts.declarations", "primary"),
    "Composition": ("pipelines.contracts.declarations", "Composition"),
    "combine": ("pipelines.contracts.combined", "combine"),
    "Deadline": ("pipelines.contracts.declarations", "Deadline"),
    "Mapper": ("pipelines.contracts.declarations", "Mapper"),
    "Mode": ("pipelines.contracts.declarations", "Mode"),
    "Pipeline": ("pipelines.contracts.declarations", "Pipeline"),
    "Publication": ("pipelines.contracts.declarations", "Publication"),
    "RetryPolicy": ("pipelines.contracts.declarations", "RetryPolicy"),
    "Step": ("pipelines.contracts.declarations", "Step"),
    "Subscription": ("pipelines.contracts.declarations", "Subscription"),
    "contract": ("pipelines.contracts.fields", "contract"),
    "declared": ("pipelines.contracts.fields", "declared"),
    "numbered": ("pipelines.contracts.fields", "numbered"),
    "wire": ("pipelines.contracts.fields", "wire"),
    "NonRetryableError": ("pipelines.contracts.errors", "NonRetryableError"),
    "RetryableError": ("pipelines.contracts.errors", "RetryableError"),
    "deterministic_id": ("pipelines.contracts.ids", "deterministic_id"),
    # Errors every transport renders the same way
    "STATUS": ("pipelines.contracts.status", "STATUS"),
    "AlreadyExists": ("pipelines.contracts.status", "AlreadyExists"),
    "Detail": ("pipelines.contracts.status", "Detail"),
    "FailedPrecondition": ("pipelines.contracts.status", "FailedPrecondition"),
    "InvalidArgument": ("pipelines.contracts.status", "InvalidArgument"),
    "NotFound": ("pipelines.contracts.status", "NotFound"),
    "Purged": ("pipelines.contracts.status", "Purged"),
    "ServiceError": ("pipelines.contracts.status", "ServiceError"),
    "Unavailable": ("pipelines.contracts.status", "Unavailable"),
    # Running a composition
    "checkpoint_models": ("pipelines.engine.registry", "checkpoint_models"),
    "composition": ("pipelines.engine.registry", "composition"),
    "current_engine": ("pipelines.engine.registry", "engine"),
    "BatchEngine": ("pipelines.engine.batch", "BatchEngine"),
    "Admission": ("pipelines.engine.streaming", "Admission"),
    "Ready": ("pipelines.engine.streaming", "Ready"),
    "Stage": ("pipelines.engine.streaming", "Stage"),
    "Stream": ("pipelines.engine.streaming", "Stream"),
    "admission": ("pipelines.engine.streaming", "admission"),
    "default_workers": ("pipelines.engine.streaming", "default_workers"),
    "watch_trace": ("pipelines.store.observers", "watch_trace"),
    # The store: exact-match reads compiled once, the request's read scope, trace numbers (docs/architecture.md,
    # "The store")
    "storage": ("pipelines.store.store", "store"),  # the Store (``pipelines.store`` is the sub-package)
    "Table": ("pipelines.store.fast", "Table"),
    # Retention: the tombstones purged traces leave (docs/operations.md, "Retention and tombstones")
    "tombstone": ("pipelines.store.purge", "tombstone"),
    "tombstone_look_up": ("pipelines.store.purge", "tombstone_look_up"),
    "tombstone_for_key": ("pipelines.store.purge", "tombstone_for_key"),
    # Open failures of a trace (the ops console's remedies)
    "open_failure": ("pipelines.failures.parking", "open_failure"),
    "parked_items": ("pipelines.failures.parking", "parked_items"),
    "open_items": ("pipelines.failures.parking", "open_items"),
    "open_hold": ("pipelines.failures.parking", "open_hold"),
    "sweep_grace": ("pipelines.recovery.resume", "grace"),  # how long past due before work counts as lost
    "database_now": ("pipelines.store.clock", "now"),  # the clock every node's due and claim times are written by
    "database_reckoned": ("pipelines.store.clock", "reckoned"),  # that clock as this node reckons it: no round trip
    "close_open": ("pipelines.failures.parking", "close_open"),
    "last_attempt": ("pipelines.failures.parking", "last_attempt"),
    # What a failed attempt's message and traceback must not say (a domain's secrets, found from the failing item)
    "register_scrubber": ("pipelines.failures.scrub", "register"),
    "scrubber_for": ("pipelines.failures.scrub", "for_item"),  # the registered finders' scrub of one item's text
    "withhold_database_details": ("pipelines.failures.scrub", "database_details"),  # a database error's quoted row
    "classify": ("pipelines.store.classification", "classify"),
    "refuse_to_start_if_broken": ("pipelines.contracts.checks", "refuse_to_start_if_broken"),
    # Transports: wire errors, request schemas and limits, NDJSON, the gRPC boundary, the engine's own services
    "PROTOBUF": ("pipelines.transport.wire_errors", "PROTOBUF"),
    "WireError": ("pipelines.transport.wire_errors", "WireError"),
    "envelope": ("pipelines.transport.wire_errors", "envelope"),
    "flatten": ("pipelines.transport.wire_errors", "flatten"),
    "status_message": ("pipelines.transport.wire_errors", "status_message"),
    "NOT_BLANK_PRINTABLE": ("pipelines.transport.wire_schema", "NOT_BLANK_PRINTABLE"),
    "StrictSerializer": ("pipelines.transport.wire_schema", "StrictSerializer"),
    "Text": ("pipelines.transport.wire_schema", "Text"),
    "BoundedJSONParser": ("pipelines.transport.input_limits", "BoundedJSONParser"),
    "check_body_size": ("pipelines.transport.input_limits", "check_body_size"),
    "BODY_REFUSALS": ("pipelines.transport.input_limits", "BODY_REFUSALS"),
    "FORMAT_REFUSALS": ("pipelines.transport.error_sink_views", "FORMAT_REFUSALS"),
    "NDJSON": ("pipelines.transport.http_streams", "NDJSON"),
    "NdjsonRenderer": ("pipelines.transport.http_streams", "NdjsonRenderer"),
    "TicketedLines": ("pipelines.transport.http_streams", "TicketedLines"),
    "BodyReader": ("pipelines.transport.http_streams", "BodyReader"),
    "closable": ("pipelines.transport.http_streams", "closable"),
    "close_connection": ("pipelines.transport.http_streams", "close_connection"),
    "ndjson_response": ("pipelines.transport.http_streams", "ndjson_response"),
    "ndjson_line": ("pipelines.transport.http_streams", "line"),
    "server_socket": ("pipelines.transport.http_streams", "server_socket"),
    "still_authenticated": ("pipelines.transport.http_streams", "still_authenticated"),
    "time_limited": ("pipelines.transport.http_streams", "time_limited"),
    "accepted_media": ("pipelines.transport.request_metrics", "accepted_media"),
    "protobuf_only": ("pipelines.transport.request_metrics", "protobuf_only"),
    "takes_json": ("pipelines.transport.request_metrics", "takes_json"),
    "Malformed": ("pipelines.transport.rpc", "Malformed"),
    "Oversized": ("pipelines.transport.rpc", "Oversized"),
    "build_server": ("pipelines.transport.rpc", "build_server"),
    "server_stopping": ("pipelines.transport.rpc_access", "server_stopping"),
    "OPEN_CALLS": ("pipelines.transport.rpc_access", "OPEN_CALLS"),
    "generic_handler": ("pipelines.transport.rpc", "generic_handler"),
    "metadata_value": ("pipelines.transport.rpc", "metadata_value"),
    "require_token": ("pipelines.transport.rpc", "require_token"),
    "unary": ("pipelines.transport.rpc", "unary"),
    "released_with_call": ("pipelines.transport.rpc_streams", "released_with_call"),
    "stream_handler": ("pipelines.transport.rpc_streams", "stream_handler"),
    "StreamIdle": ("pipelines.transport.rpc_streams", "StreamIdle"),
    "idle_limited": ("pipelines.transport.rpc_streams", "idle_limited"),
    "unread_limited": ("pipelines.transport.rpc_streams", "unread_limited"),
    "streaming": ("pipelines.transport.rpc_streams", "streaming"),
    "metrics_view": ("pipelines.transport.request_metrics", "metrics_view"),
    "ErrorSinkEntriesView": ("pipelines.transport.error_sink_views", "ErrorSinkEntriesView"),
    "TokenFirstView": ("pipelines.transport.error_sink_views", "TokenFirstView"),  # a JSON route's base
    "ERROR_SINK_SERVICE": ("pipelines.transport.error_sink_rpc", "SERVICE"),
    "ErrorSinkService": ("pipelines.transport.error_sink_rpc", "ErrorSinkService"),
    "SubscriptionAckView": ("pipelines.transport.subscription_views", "SubscriptionAckView"),
    "SubscriptionStreamView": ("pipelines.transport.subscription_views", "SubscriptionStreamView"),
    "SUBSCRIPTION_SERVICE": ("pipelines.transport.subscription_rpc", "SERVICE"),
    "SubscriptionService": ("pipelines.transport.subscription_rpc", "SubscriptionService"),
    "subscription_gate": ("pipelines.transport.subscriptions", "gate"),  # its admission, opened at a server's start
    "log_ids": ("pipelines.engine.tracing", "log_ids"),
    # Namespaces: modules a domain uses as a whole
    "ids": ("pipelines.contracts.ids", None),  # deterministic ids and idempotency keys
    "pauses": ("pipelines.engine.pauses", None),  # which steps are paused (read)
    "pausing": ("pipelines.recovery.pausing", None),  # pause and resume a step, audited
    "drain": ("pipelines.recovery.drain", None),  # a resumed pause's drain and its progress
    "backlog": ("pipelines.recovery.backlog", None),  # the backlog bound admission enforces
    "queues": ("pipelines.engine.queues", None),  # delivery modes, the queue per pipeline, the queue backlog
    "deadlines": ("pipelines.recovery.deadlines", None),  # waits past their deadline: the pass, the reads, extend
    "forks": ("pipelines.recovery.forks", None),  # fork a trace from a stored checkpoint onto a new branch
    "actions": (
        "pipelines.recovery.actions",
        None,
    ),  # remediation machinery: stale-preview guard, redrive, the OpsAction audit row
    "metrics": ("pipelines.engine.metrics", None),  # Prometheus series
    "tracing": ("pipelines.engine.tracing", None),  # OpenTelemetry
    "input_limits": ("pipelines.transport.input_limits", None),  # the client limits, every transport
    "outage": ("pipelines.transport.outage", None),  # a database that cannot be reached
    "request_metrics": ("pipelines.transport.request_metrics", None),  # request counts and latencies per route
}

if TYPE_CHECKING:
    from pipelines.contracts import ids as ids
    from pipelines.contracts.checks import refuse_to_start_if_broken as refuse_to_start_if_broken
    from pipelines.contracts.combined import combine as combine
    from pipelines.contracts.declarations import Branch as Branch
    from pipelines.contracts.declarations import BranchNeed as BranchNeed
    from pipelines.contracts.declarations import BranchRole as BranchRole
    from pipelines.contracts.declarations import Composition as Composition
    from pipelines.contracts.declarations import Deadline as Deadline
    from pipelines.contracts.declarations import Mapper as Mapper
    from pipelines.contracts.declarations import Mode as Mode
    from pipelines.contracts.declarations import Pipeline as Pipeline
    from pipelines.contracts.declarations import Publication as Publication
    from pipelines.contracts.declarations import RetryPolicy as RetryPolicy
    from pipelines.contracts.declarations import Step as Step
    from pipelines.contracts.declarations import Subscription as Subscription
    from pipelines.contracts.declarations import aux as aux
    from pipelines.contracts.declarations import outcome as outcome
    from pipelines.contracts.declarations import primary as primary
    from pipelines.contracts.errors import NonRetryableError as NonRetryableError
    from pipelines.contracts.errors import RetryableError as RetryableError
    from pipelines.contracts.fields import contract as contract
    from pipelines.contracts.fields import declared as declared
    from pipelines.contracts.fields import numbered as numbered
    from pipelines.contracts.fields import wire as wire
    from pipelines.contracts.ids import deterministic_id as deterministic_id
    from pipelines.contracts.status import STATUS as STATUS
    from pipelines.contracts.status import AlreadyExists as AlreadyExists
    from pipelines.contracts.status import Detail as Detail
    from pipelines.contracts.status import FailedPrecondition as FailedPrecondition
    from pipelines.contracts.status import InvalidArgument as InvalidArgument
    from pipelines.contracts.status import NotFound as NotFound
    from pipelines.contracts.status import Purged as Purged
    from pipelines.contracts.status import ServiceError as ServiceError
    from pipelines.contracts.status import Unavailable as Unavailable
    from pipelines.contracts.steps import AWAIT as AWAIT
    from pipelines.contracts.steps import SKIP as SKIP
    from pipelines.contracts.steps import Await as Await
    from pipelines.contracts.steps import Command as Command
    from pipelines.contracts.steps import Execution as Execution
    from pipelines.contracts.steps import Output as Output
    from pipelines.contracts.steps import Produced as Produced
    from pipelines.contracts.steps import Split as Split
    from pipelines.contracts.steps import StepContext as StepContext
    from pipelines.contracts.steps import StepStatus as StepStatus
    from pipelines.engine import metrics as metrics
    from pipelines.engine import pauses as pauses
    from pipelines.engine import queues as queues
    from pipelines.engine import tracing as tracing
    from pipelines.engine.batch import BatchEngine as BatchEngine
    from pipelines.engine.registry import checkpoint_models as checkpoint_models
    from pipelines.engine.registry import composition as composition
    from pipelines.engine.registry import engine as current_engine
    from pipelines.engine.streaming import Admission as Admission
    from pipelines.engine.streaming import Ready as Ready
    from pipelines.engine.streaming import Stage as Stage
    from pipelines.engine.streaming import Stream as Stream
    from pipelines.engine.streaming import admission as admission
    from pipelines.engine.streaming import default_workers as default_workers
    from pipelines.engine.tracing import log_ids as log_ids
    from pipelines.failures.parking import close_open as close_open
    from pipelines.failures.parking import last_attempt as last_attempt
    from pipelines.failures.parking import open_failure as open_failure
    from pipelines.failures.parking import open_hold as open_hold
    from pipelines.failures.parking import open_items as open_items
    from pipelines.failures.parking import parked_items as parked_items
    from pipelines.failures.scrub import database_details as withhold_database_details
    from pipelines.failures.scrub import for_item as scrubber_for
    from pipelines.failures.scrub import register as register_scrubber
    from pipelines.recovery import actions as actions
    from pipelines.recovery import backlog as backlog
    from pipelines.recovery import deadlines as deadlines
    from pipelines.recovery import drain as drain
    from pipelines.recovery import forks as forks
    from pipelines.recovery import pausing as pausing
    from pipelines.recovery.resume import grace as sweep_grace
    from pipelines.store.classification import classify as classify
    from pipelines.store.clock import now as database_now
    from pipelines.store.clock import reckoned as database_reckoned
    from pipelines.store.fast import Table as Table
    from pipelines.store.observers import watch_trace as watch_trace
    from pipelines.store.purge import tombstone as tombstone
    from pipelines.store.purge import tombstone_for_key as tombstone_for_key
    from pipelines.store.purge import tombstone_look_up as tombstone_look_up
    from pipelines.store.store import store as storage
    from pipelines.transport import input_limits as input_limits
    from pipelines.transport import outage as outage
    from pipelines.transport import request_metrics as request_metrics
    from pipelines.transport.error_sink_rpc import SERVICE as ERROR_SINK_SERVICE
    from pipelines.transport.error_sink_rpc import ErrorSinkService as ErrorSinkService
    from pipelines.transport.error_sink_views import FORMAT_REFUSALS as FORMAT_REFUSALS
    from pipelines.transport.error_sink_views import ErrorSinkEntriesView as ErrorSinkEntriesView
    from pipelines.transport.error_sink_views import TokenFirstView as TokenFirstView
    from pipelines.transport.http_streams import NDJSON as NDJSON
    from pipelines.transport.http_streams import BodyReader as BodyReader
    from pipelines.transport.http_streams import NdjsonRenderer as NdjsonRenderer
    from pipelines.transport.http_streams import TicketedLines as TicketedLines
    from pipelines.transport.http_streams import closable as closable
    from pipelines.transport.http_streams import close_connection as close_connection
    from pipelines.transport.http_streams import line as ndjson_line
    from pipelines.transport.http_streams import ndjson_response as ndjson_response
    from pipelines.transport.http_streams import server_socket as server_socket
    from pipelines.transport.http_streams import still_authenticated as still_authenticated
    from pipelines.transport.http_streams import time_limited as time_limited
    from pipelines.transport.input_limits import BODY_REFUSALS as BODY_REFUSALS
    from pipelines.transport.input_limits import BoundedJSONParser as BoundedJSONParser
    from pipelines.transport.input_limits import check_body_size as check_body_size
    from pipelines.transport.request_metrics import accepted_media as accepted_media
    from pipelines.transport.request_metrics import metrics_view as metrics_view
    from pipelines.transport.request_metrics import protobuf_only as protobuf_only
    from pipelines.transport.request_metrics import takes_json as takes_json
    from pipelines.transport.rpc import Malformed as Malformed
    from pipelines.transport.rpc import Oversized as Oversized
    from pipelines.transport.rpc import build_server as build_server
    from pipelines.transport.rpc import generic_handler as generic_handler
    from pipelines.transport.rpc import metadata_value as metadata_value
    from pipelines.transport.rpc import require_token as require_token
    from pipelines.transport.rpc import unary as unary
    from pipelines.transport.rpc_access import OPEN_CALLS as OPEN_CALLS
    from pipelines.transport.rpc_access import server_stopping as server_stopping
    from pipelines.transport.rpc_streams import StreamIdle as StreamIdle
    from pipelines.transport.rpc_streams import idle_limited as idle_limited
    from pipelines.transport.rpc_streams import released_with_call as released_with_call
    from pipelines.transport.rpc_streams import stream_handler as stream_handler
    from pipelines.transport.rpc_streams import streaming as streaming
    from pipelines.transport.rpc_streams import unread_limited as unread_limited
    from pipelines.transport.subscription_rpc import SERVICE as SUBSCRIPTION_SERVICE
    from pipelines.transport.subscription_rpc import SubscriptionService as SubscriptionService
    from pipelines.transport.subscription_views import SubscriptionAckView as SubscriptionAckView
    from pipelines.transport.subscription_views import SubscriptionStreamView as SubscriptionStreamView
    from pipelines.transport.subscriptions import gate as subscription_gate
    from pipelines.transport.wire_errors import PROTOBUF as PROTOBUF
    from pipelines.transport.wire_errors import WireError as WireError
    from pipelines.transport.wire_errors import envelope as envelope
    from pipelines.transport.wire_errors import flatten as flatten
    from pipelines.transport.wire_errors import status_message as status_message
    from pipelines.transport.wire_schema import NOT_BLANK_PRINTABLE as NOT_BLANK_PRINTABLE
    from pipelines.transport.wire_schema import StrictSerializer as StrictSerializer
    from pipelines.transport.wire_schema import Text as Text

__all__ = [
    "AWAIT",
    "BODY_REFUSALS",
    "ERROR_SINK_SERVICE",
    "FORMAT_REFUSALS",
    "NDJSON",
    "NOT_BLANK_PRINTABLE",
    "OPEN_CALLS",
    "PROTOBUF",
    "SKIP",
    "STATUS",
    "SUBSCRIPTION_SERVICE",
    "Admission",
    "AlreadyExists",
    "Await",
    "BatchEngine",
    "BodyReader",
    "BoundedJSONParser",
    "Branch",
    "BranchNeed",
    "BranchRole",
    "Command",
    "Composition",
    "Deadline",
    "Detail",
    "ErrorSinkEntriesView",
    "ErrorSinkService",
    "Execution",
    "FailedPrecondition",
    "InvalidArgument",
    "Malformed",
    "Mapper",
    "Mode",
    "NdjsonRenderer",
    "NonRetryableError",
    "NotFound",
    "Output",
    "Oversized",
    "Pipeline",
    "Produced",
    "Publication",
    "Purged",
    "Ready",
    "RetryPolicy",
    "RetryableError",
    "ServiceError",
    "Split",
    "Stage",
    "Step",
    "StepContext",
    "StepStatus",
    "Stream",
    "StreamIdle",
    "StrictSerializer",
    "Subscription",
    "SubscriptionAckView",
    "SubscriptionService",
    "SubscriptionStreamView",
    "Table",
    "Text",
    "TicketedLines",
    "TokenFirstView",
    "Unavailable",
    "WireError",
    "accepted_media",
    "actions",
    "admission",
    "aux",
    "backlog",
    "build_server",
    "check_body_size",
    "checkpoint_models",
    "classify",
    "closable",
    "close_connection",
    "close_open",
    "combine",
    "composition",
    "contract",
    "current_engine",
    "database_now",
    "database_reckoned",
    "deadlines",
    "declared",
    "default_workers",
    "deterministic_id",
    "drain",
    "envelope",
    "flatten",
    "forks",
    "generic_handler",
    "idle_limited",
    "ids",
    "input_limits",
    "last_attempt",
    "log_ids",
    "metadata_value",
    "metrics",
    "metrics_view",
    "ndjson_line",
    "ndjson_response",
    "numbered",
    "open_failure",
    "open_hold",
    "open_items",
    "outage",
    "outcome",
    "parked_items",
    "pauses",
    "pausing",
    "primary",
    "protobuf_only",
    "queues",
    "refuse_to_start_if_broken",
    "register_scrubber",
    "released_with_call",
    "request_metrics",
    "require_token",
    "scrubber_for",
    "server_socket",
    "server_stopping",
    "status_message",
    "still_authenticated",
    "storage",
    "stream_handler",
    "streaming",
    "subscription_gate",
    "sweep_grace",
    "takes_json",
    "time_limited",
    "tombstone",
    "tombstone_for_key",
    "tombstone_look_up",
    "tracing",
    "unary",
    "unread_limited",
    "watch_trace",
    "wire",
    "withhold_database_details",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}") from None
    loaded = importlib.import_module(module)
    value = loaded if attribute is None else getattr(loaded, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""Log lines that quote an exception, without the payment tokens its text may quote (docs/operations.md, "Free text").

A view outside the API that raises (an ops console page) is logged twice with its traceback: django-structlog's
``request_failed`` line and Django's ``django.request`` "Internal Server Error" line. Both show it with every payment
token the request names (the order or consumer of its address and query, its form or JSON body) replaced by its
hint, through the registered scrubbers (``pipelines.scrubber_for``), as ``api.internal_error`` does.

A Celery task that raises is logged by Celery (``celery.app.trace``: "Task … raised unexpected: …") and by
django-structlog (``task_failed``). A task is handed engine ids, which lead a scrubber to nothing, so both lines name
each exception by its class only: the traceback keeps its frames, never a message.

Both are done before any handler sees the record: a filter on the logger (``LOGGING``'s ``filters``), or the hook
django-structlog offers for its line.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, QueryDict, RawPostDataException
from django.http.multipartparser import MultiPartParserError
from django.urls import ResolverMatch
from django_structlog import signals as structlog_signals

from pipelines import scrubber_for

# An address's or a query's id that may be an order's or a consumer's (an admin page's object, the lineage search),
# and the console forms' name for an order (a remediation's ``order``).
_EITHER = ("object_id", "id")
_ORDER = ("order",)
# The fields of an admin page's object that lead a scrubber to a payment token.
_OBJECT_NAMES = ("order_id", "consumer_id", "payment_token")
_UNREADABLE = (ValueError, OSError, SuspiciousOperation, RequestDataTooBig, RawPostDataException, MultiPartParserError)
WITHHELD = "[withheld: no exception to name]"
_SCRUB = "tpfgo_log_scrub"  # the request's attribute holding its scrub once looked up


# -- a failed request: its traceback scrubbed of what it names ------------------------------------------------------
def request_names(request: HttpRequest) -> dict[str, Any]:
    """What ``request`` names, as a scrubber's finder reads it: its address's ids, its query and its body."""
    match = getattr(request, "resolver_match", None)
    url = {name: str(value) for name, value in (match.kwargs if match else {}).items()}
    shown = _admin_object(match, url["object_id"]) if match and "object_id" in url else {}
    return {"url": _either(url), "object": shown, "query": _query(request), "body": _body(request)}


def _admin_object(match: ResolverMatch, object_id: str) -> dict[str, Any]:
    """An admin page's object (a checkpoint's page names it by its own id): its order, consumer and token."""
    model = getattr(getattr(match.func, "model_admin", None), "model", None)
    if model is None:
        return {}
    names = [field.attname for field in model._meta.concrete_fields if field.attname in _OBJECT_NAMES]
    try:
        row = model._default_manager.filter(pk=object_id).values(*names).first() if names else None
    except (ValidationError, ValueError):  # an id of the wrong shape names no row
        return {}
    except DatabaseError:  # unreadable now: the id itself is named (``_EITHER``), whose look-up fails closed
        return {}
    return {name: str(value) for name, value in (row or {}).items() if value}


def _either(names: dict[str, str]) -> dict[str, str]:
    """``names`` with an id named ambiguously (``_EITHER``, ``_ORDER``) also under the names a finder looks for."""
    aliases: dict[str, str] = {}
    for name in _EITHER:
        if name in names:
            aliases.update(order_id=names[name], consumer_id=names[name])
    for name in _ORDER:
        if name in names:
            aliases["order_id"] = names[name]
    return {**aliases, **names}


def _fields(data: QueryDict) -> list[dict[str, str]]:
    """Every value of a query or a form under its own name (a name given twice names both values)."""
    return [_either({name: value}) for name, values in data.lists() for value in values]


def _query(request: HttpRequest) -> object:
    try:
        return _fields(request.GET)
    except _UNREADABLE:  # too many fields: a query the view could not read either
        return None


def _body(request: HttpRequest) -> object:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    try:
        if request.content_type == "application/json":
            return json.loads(request.body or b"null")
        return _fields(request.POST)
    except _UNREADABLE:  # a body the view could not read either: it names nothing, the address still does
        return None


def scrubbed_traceback(exc: BaseException, request: HttpRequest) -> str:
    """``exc``'s traceback as the log prints one, every payment token ``request`` names replaced by its hint (looked
    up once per request: its two lines share the answer, or the one ``error_sink.scrub_failed`` line)."""
    hide = getattr(request, _SCRUB, None)
    if hide is None:
        hide = scrubber_for(request_names(request), None)
        setattr(request, _SCRUB, hide)
    return hide("".join(traceback.format_exception(exc)).rstrip("\n"))


def _failed_request(
    sender: object, request: HttpRequest, exception: BaseException, log_kwargs: dict[str, Any], **kwargs: object
) -> None:
    """django-structlog's ``request_failed`` line: the scrubbed traceback instead of the one it would format."""
    log_kwargs["exception"] = scrubbed_traceback(exception, request)
    log_kwargs["exc_info"] = False


structlog_signals.bind_extra_request_failed_metadata.connect(
    _failed_request, dispatch_uid="tpfgo_site.scrubbed_logs.failed_request"
)


class RequestTraceback(logging.Filter):
    """On ``django.request``: a record's traceback (an uncaught error's "Internal Server Error") becomes its text,
    scrubbed by what the record's request names (``exc_text``; ``logs.traceback_text`` renders it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if record.exc_info and record.exc_info[1] is not None and isinstance(request, HttpRequest):
            record.exc_text = scrubbed_traceback(record.exc_info[1], request)
            record.exc_info = None
        return True


# -- a failed task: its exceptions by their class ------------------------------------------------------------------
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def class_name(exc: BaseException | None) -> str:
    """``exc`` by its class as a traceback names it (a Celery retry with when it runs again), or ``WITHHELD``."""
    if exc is None:
        return WITHHELD
    from celery.exceptions import Retry

    if isinstance(exc, Retry):
        return f"Retry {exc.humanize()}" + (f": {class_name(exc.exc)}" if exc.exc is not None else "")
    return _qualified(type(exc))


def _qualified(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def class_only_traceback(exc: BaseException | None) -> str:
    """``exc``'s traceback as Python prints it (its chain's causes and contexts too), each exception named by its
    class only."""
    if exc is None:
        return WITHHELD
    return "".join(_class_only(traceback.TracebackException.from_exception(exc))).rstrip("\n")


def _class_only(shown: traceback.TracebackException) -> list[str]:
    lines: list[str] = []
    if shown.__cause__ is not None:
        lines += [*_class_only(shown.__cause__), _CAUSE]
    elif shown.__context__ is not None and not shown.__suppress_context__:
        lines += [*_class_only(shown.__context__), _CONTEXT]
    if shown.stack:
        lines += ["Traceback (most recent call last):\n", *shown.stack.format()]
    return [*lines, f"{_qualified(shown.exc_type) if shown.exc_type else 'Exception'}\n"]


class TaskFailure(logging.Filter):
    """On ``celery.app.trace``: a task's failure, retry or internal error line (its context's ``exc``) names the
    exception by its class, and its traceback (the record's and the context's ``traceback``) by classes only. Celery
    logs these from the ``except`` that caught the task's exception: a line without a traceback names that one."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = record.args
        if not isinstance(context, Mapping) or "exc" not in context:
            return True
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        shown = {"exc": class_name(exc)}
        if "traceback" in context:
            shown["traceback"] = class_only_traceback(exc)
        record.args = {**context, **shown}
        data = getattr(record, "data", None)
        if isinstance(data, Mapping):
            record.data = {**data, **shown}
        if record.exc_info:
            record.exc_text = class_only_traceback(exc)
            record.exc_info = None
        return True

"""Log lines that quote an exception, without the payment tokens its text may quote (docs/operations.md, "Free text").

A view outside the API that raises (an ops console page) is logged twice with its traceback: django-structlog's
``request_failed`` line and Django's ``django.request`` "Internal Server Error" line. A console page may show many
orders and consumers (a list, the dashboard, a bulk form) and read their tokens without its request naming any, so
no look-up by what the request names could know which tokens its exception quotes. Both lines name each exception
by its class only, its frames kept, as a task's are.

A Celery task that raises is logged by Celery (``celery.app.trace``: "Task … raised unexpected: …") and by
django-structlog (``task_failed``). A task is handed engine ids, which lead a scrubber to nothing, so both lines name
each exception by its class only: the traceback keeps its frames, never a message.

Both are done before any handler sees the record: a filter on the logger (``LOGGING``'s ``filters``), or the hook
django-structlog offers for its line.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django_structlog import signals as structlog_signals

WITHHELD = "[withheld: no exception to name]"


# -- a failed request: its traceback by its exceptions' classes ----------------------------------------------------
def _failed_request(
    sender: object, request: HttpRequest, exception: BaseException, log_kwargs: dict[str, Any], **kwargs: object
) -> None:
    """django-structlog's ``request_failed`` line: the class-only traceback instead of the one it would format."""
    log_kwargs["exception"] = class_only_traceback(exception)
    log_kwargs["exc_info"] = False


structlog_signals.bind_extra_request_failed_metadata.connect(
    _failed_request, dispatch_uid="tpfgo_site.scrubbed_logs.failed_request"
)


class RequestTraceback(logging.Filter):
    """On ``django.request``: a record's traceback (an uncaught error's "Internal Server Error") becomes its text,
    each exception named by its class (``exc_text``; ``logs.traceback_text`` renders it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = class_only_traceback(record.exc_info[1])
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

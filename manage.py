#!/usr/bin/env python
"""Django's command-line utility for TPFGo."""

import os
import sys

# Commands that are servers log to stdout like gunicorn and Celery; every other command logs to stderr, so its own
# result on stdout stays clean (tpfgo_site/logs.py).
SERVERS = {"grpcrunserver"}


def metrics_folder() -> None:
    """Without ``PROMETHEUS_MULTIPROC_DIR``, a command writes its samples (the steps it runs: a remediation, a sweep
    by hand) to ``make run``'s folder, ``$TPFGO_VAR_DIR/prometheus``, when it exists and may be written to, so they
    reach that node's ``/metrics`` and its alerts as a worker's do (docs/operations.md, "Metrics"). Set before the
    first import of ``prometheus_client``, which picks its storage then; ``PROMETHEUS_MULTIPROC_DIR=`` keeps a
    command's samples in its own memory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        if not os.environ["PROMETHEUS_MULTIPROC_DIR"]:  # prometheus_client would write to the working directory
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        return
    var = os.environ.get("TPFGO_VAR_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "var"))
    folder = os.path.join(var, "prometheus")
    if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def main() -> None:
    for argument in sys.argv[1:]:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are no UTF-8, kept by Python as lone surrogates
            sys.exit(f"CommandError: an argument is not UTF-8 text: {argument!r}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    if len(sys.argv) < 2 or sys.argv[1] not in SERVERS:
        os.environ.setdefault("TPFGO_LOG_STREAM", "stderr")
        metrics_folder()
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        execute_from_command_line(sys.argv)
    except DatabaseError:  # a table this code needs may be missing: say so, not a traceback
        behind = schema_behind(sys.argv[1] if len(sys.argv) > 1 else "")
        if behind is None:
            raise
        sys.exit(f"CommandError: {behind}")


def schema_behind(command: str) -> str | None:
    """What to do when the database lacks migrations, else None (the error was something else)."""
    from django.db import connections

    from pipelines.store.schema import SchemaBehind, refuse_if_behind

    connections.close_all()  # the failed statement may have left its transaction aborted
    try:
        refuse_if_behind(f"manage.py {command}")
    except SchemaBehind as exc:
        return str(exc)
    except Exception:  # noqa: BLE001  (the original error is the one to show)
        return None
    return None


if __name__ == "__main__":
    main()

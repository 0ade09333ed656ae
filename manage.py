#!/usr/bin/env python
"""Django's command-line utility for TPFGo."""

import os
import sys

# Commands that are servers log to stdout like gunicorn and Celery; every other command logs to stderr, so its own
# result on stdout stays clean (tpfgo_site/logs.py).
SERVERS = {"grpcrunserver"}


def main() -> None:
    for argument in sys.argv[1:]:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are no UTF-8, kept by Python as lone surrogates
            sys.exit(f"CommandError: an argument is not UTF-8 text: {argument!r}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    if len(sys.argv) < 2 or sys.argv[1] not in SERVERS:
        os.environ.setdefault("TPFGO_LOG_STREAM", "stderr")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

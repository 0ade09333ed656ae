"""gunicorn's settings module for ``make run`` (``-c python:tpfgo_site.gunicorn_conf``): its server hooks.

A worker that exits leaves its metric files in ``PROMETHEUS_MULTIPROC_DIR``: its counters still count, and
``mark_process_dead`` drops what only a live process may report.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)

"""gunicorn's settings module for ``make run`` (``-c python:tpfgo_site.gunicorn_conf``): its server hooks.

A worker that exits leaves its metric files in ``PROMETHEUS_MULTIPROC_DIR``: its counters still count, and
``mark_process_dead`` drops what only a live process may report.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import multiprocess

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker


def child_exit(server: Arbiter, worker: Worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)

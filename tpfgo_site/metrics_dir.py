"""``python -m tpfgo_site.metrics_dir DIR``: make a metrics folder that other processes share ready for one more.

``bin/node`` empties a folder of its own at start. A folder it is given (``PROMETHEUS_MULTIPROC_DIR``: the web and
the gRPC server of one host share one, so that gunicorn's ``/metrics`` sums both) may hold the live files of the
other roles' processes, so it is not emptied: only what no dead process may report any more (its live gauges,
``prometheus_client.multiprocess.mark_process_dead``) is dropped; counters and histograms of ended processes keep
counting, as gunicorn's ``child_exit`` keeps its workers'.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from prometheus_client import multiprocess

_LIVE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def drop_dead(folder: Path) -> list[int]:
    """Mark every process dead whose live gauges are in ``folder`` and that no longer runs; the pids, sorted."""
    gone = sorted(
        {int(m.group(1)) for p in folder.glob("gauge_live*.db") if (m := _LIVE.match(p.name))} - {os.getpid()}
    )
    gone = [pid for pid in gone if not alive(pid)]
    for pid in gone:
        multiprocess.mark_process_dead(pid, str(folder))
    return gone


if __name__ == "__main__":
    drop_dead(Path(sys.argv[1]))

"""``python -m tpfgo_site.metrics_dir DIR``: make a metrics folder that other processes share ready for one more;
``python -m tpfgo_site.metrics_dir --ended VAR``: remove the folders of ended nodes that ``bin/node`` named itself.

``bin/node`` empties a folder of its own at start. A folder it is given (``PROMETHEUS_MULTIPROC_DIR``: the web and
the gRPC server of one host share one, so that gunicorn's ``/metrics`` sums both) may hold the live files of the
other roles' processes, so it is not emptied: only what no dead process may report any more (its live gauges,
``prometheus_client.multiprocess.mark_process_dead``) is dropped; counters and histograms of ended processes keep
counting, as gunicorn's ``child_exit`` keeps its workers'.

A folder ``bin/node`` picks itself is named after its node, ``prometheus-<role>-<pid>`` unless ``NODE_NAME`` is set,
so a restarted node writes to a new one and nothing reads the old one again: at start, a node removes those whose
node and every process that wrote there have ended (a node restarted in a loop left one folder per start).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from prometheus_client import multiprocess

_LIVE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")
_WRITER = re.compile(r"_(\d+)\.db$")
_NODE_FOLDER = re.compile(r"^prometheus-(?:web|grpc|worker|beat)-(\d+)$")  # bin/node's own, NODE_NAME unset


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


def drop_ended_nodes(var: Path) -> list[str]:
    """Remove the folders in ``var`` that ``bin/node`` named after a node (its role and pid) when that node and
    every process whose samples are there have ended; their names, sorted."""
    ended = []
    for folder in sorted(var.glob("prometheus-*")):
        named = _NODE_FOLDER.match(folder.name)
        if named is None or not folder.is_dir() or alive(int(named.group(1))):
            continue
        writers = {int(m.group(1)) for p in folder.glob("*.db") if (m := _WRITER.search(p.name))}
        if not any(alive(pid) for pid in writers):
            shutil.rmtree(folder, ignore_errors=True)
            ended.append(folder.name)
    return ended


if __name__ == "__main__":
    if sys.argv[1] == "--ended":
        drop_ended_nodes(Path(sys.argv[2]))
    else:
        drop_dead(Path(sys.argv[1]))

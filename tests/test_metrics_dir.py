"""``tpfgo_site.metrics_dir``: a metrics folder shared by a host's roles keeps their files; only the live gauges of
processes that no longer run are dropped (as gunicorn's ``child_exit`` drops its workers')."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tpfgo_site import metrics_dir


def ended_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_shared_folder_loses_only_the_live_gauges_of_processes_gone(tmp_path: Path):
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    gone = ended_pid()
    names = [
        f"counter_{gone}.db",
        f"histogram_{gone}.db",
        f"gauge_livesum_{gone}.db",
        f"gauge_liveall_{gone}.db",
        f"gauge_all_{gone}.db",
        f"counter_{running.pid}.db",
        f"gauge_livesum_{running.pid}.db",
    ]
    try:
        for name in names:
            (tmp_path / name).write_bytes(b"")
        assert metrics_dir.drop_dead(tmp_path) == [gone]
    finally:
        running.kill()
        running.wait()

    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted(set(names) - {f"gauge_livesum_{gone}.db", f"gauge_liveall_{gone}.db"})


def test_a_node_removes_only_the_folders_of_ended_nodes_it_named_itself(tmp_path: Path):
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    gone, also_gone = ended_pid(), ended_pid()
    folders = {
        f"prometheus-grpc-{gone}": [f"counter_{gone}.db", f"histogram_{gone}.db"],  # a restarted node's old one
        f"prometheus-worker-{also_gone}": [],  # started, then ended before its first sample
        f"prometheus-web-{running.pid}": [f"counter_{running.pid}.db"],  # a live node's
        f"prometheus-worker-{gone}": [f"counter_{running.pid}.db"],  # its pool process still runs
        "prometheus-web-1": [f"counter_{gone}.db"],  # NODE_NAME=web-1: emptied by that node when it starts again
        "prometheus-cluster-web1": [f"counter_{gone}.db"],  # a folder given to a host's roles (bin/cluster)
        "prometheus": [f"counter_{gone}.db"],  # make run's
    }
    try:
        for folder, files in folders.items():
            (tmp_path / folder).mkdir()
            for name in files:
                (tmp_path / folder / name).write_bytes(b"")
        removed = metrics_dir.drop_ended_nodes(tmp_path)
    finally:
        running.kill()
        running.wait()

    assert removed == sorted([f"prometheus-grpc-{gone}", f"prometheus-worker-{also_gone}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(folders) - set(removed))

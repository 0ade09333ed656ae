"""The nodes of the scale-out test's cluster: 2 web nodes, 2 worker nodes and beat, each a process group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.scaleout.cluster import ROOT, START_TIMEOUT, Broker, Database, Group, free_port, http_ok, wait_until
from tests.scaleout.netns import Forwarder, WorkerHost

SUPERVISOR_EXIT = "supervisor: the process exited"


def supervised(argv: list[str]) -> list[str]:
    """``argv`` started again whenever it exits, as a process supervisor (systemd ``Restart=always``) would.

    Operators run nodes this way; the test counts how often a node exited by itself. (A worker on kombu's own
    Redis transport exited on a broker restart; TPFGo's, ``tpfgo_site/redis_broker.py``, reconnects.)
    """
    loop = f'while :; do "$@"; echo "{SUPERVISOR_EXIT} with status $?"; sleep 1; done'
    return ["bash", "-c", loop, "node", *argv]


def subscribed_publications() -> list[str]:
    """Every publication with subscribers, as the nodes' composition (the project's settings) has them, sorted."""
    code = (
        "import django; django.setup()\n"
        "from pipelines.engine.registry import composition\n"
        "print('\\n'.join(sorted({s.publication for s in composition().subscriptions})))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout.split()


class Cluster:
    """2 web nodes, 2 worker nodes and 2 beat candidates on ``database`` and ``broker``, each started as an operator
    starts one node (``bin/node ROLE``, README "Several nodes"); ``home`` holds their folders and logs.

    A web node is a gunicorn master with its workers; a worker node a Celery worker with its pool; a beat candidate
    runs Celery beat only while it holds the cluster's beat lock. Nodes get the owner's URL and serve as the
    database's serving role. With ``host``, worker node 2 runs in that network namespace.
    """

    def __init__(
        self, home: Path, database: Database, broker: Broker, env: dict[str, str], host: WorkerHost | None = None
    ) -> None:
        self.home, self.database, self.broker, self.host = home, database, broker, host
        self.web_ports = [free_port(), free_port()]
        self.base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
            "DATABASE_URL": database.url(),
            "TPFGO_DB_APP_ROLE": database.app_role,
            "TPFGO_DB_PURGE_ROLE": database.purge_role,
            "CELERY_BROKER_URL": broker.url,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
            "WEB_THREADS": "4",
            "CELERY_CONCURRENCY": "2",
            **env,
        }
        for name in ("TEST_DATABASE_NAME", "DATABASE_OWNER_URL", "DATABASE_PURGE_URL", "TPFGO_QUEUES"):
            self.base_env.pop(name, None)
        self.web = [
            self._node(f"web{i + 1}", ["bin/node", "web"], PORT=str(port)) for i, port in enumerate(self.web_ports)
        ]
        self.workers = [self._worker(i) for i in range(2)]
        self.beats = [self._node(f"beat{i + 1}", supervised(["bin/node", "beat"])) for i in range(2)]

    def _node(self, name: str, argv: list[str], **env: str) -> Group:
        folder = self.home / name
        (folder / "prometheus").mkdir(parents=True, exist_ok=True)
        node_env = {
            **self.base_env,
            "NODE_NAME": name,
            "TPFGO_VAR_DIR": str(folder / "var"),
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
            **env,
        }
        return Group(name, argv, node_env, folder / "node.log")

    def _worker(self, index: int) -> Group:
        argv = supervised(["bin/node", "worker"])
        if index == 1 and self.host is not None:
            # The second worker node is a host of its own: everything it reaches is on its link's far side.
            self.forwarder = Forwarder(self.host.address, ("127.0.0.1", self.database.port))
            at = f"{self.host.address}:{self.forwarder.port}"
            return self._node(
                "worker2",
                self.host.wrap(argv),
                DATABASE_URL=self.database.url(at=at),
                CELERY_BROKER_URL=self.broker.url_at(self.host.address),
            )
        return self._node(f"worker{index + 1}", argv)

    def manage(self, *args: str, owner: bool = True) -> str:
        """``manage.py`` as the owner (migrate, roles, demo data, tokens); its stdout."""
        env = {
            **self.base_env,
            "DATABASE_URL": self.database.url() if owner else self.database.url(self.database.app_role),
        }
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self) -> str:
        """``bin/node prepare`` (migrate, roles, demo data); the ops token the clients use."""
        env = {**self.base_env, "TPFGO_NODE_QUIET": "1", "TPFGO_VAR_DIR": str(self.home / "prepare")}
        done = subprocess.run(["bin/node", "prepare"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"bin/node prepare failed:\n{done.stdout}\n{done.stderr}")
        return self.manage("create_token", "ops", "--name", "chaos-load").strip()

    def start(self) -> None:
        for group in [*self.web, *self.workers, *self.beats]:
            group.start()
        for index in range(2):
            self.wait_web(index)
        for index in range(2):
            self.wait_worker(index)

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[index]}"

    def wait_web(self, index: int) -> None:
        wait_until(
            f"web{index + 1} to answer /healthz",
            lambda: http_ok(self.url(index) + "/healthz"),
            START_TIMEOUT,
            self.web[index].log,
        )

    def wait_worker(self, index: int) -> None:
        group = self.workers[index]
        marker = f"{group.name}@"

        def ready() -> bool:
            text = group.log.read_text(errors="replace")
            last = text.rsplit("---- start #", 1)[-1]
            return marker in last and " ready." in last

        wait_until(f"{group.name} to be ready", ready, START_TIMEOUT, group.log)

    def beat_leader(self) -> Group:
        """The beat candidate whose beat sends the schedule's tasks (the first one while neither has yet)."""
        sent = [g.log.read_text(errors="replace").count("Sending due task") for g in self.beats]
        return self.beats[sent.index(max(sent))]

    def restart(self, group: Group) -> None:
        """SIGKILL a node's whole process group and start it again."""
        group.kill()
        group.start()

    def stop(self) -> None:
        for group in [*self.web, *self.workers, *self.beats]:
            group.stop()
        if self.host is not None:
            self.forwarder.close()

    def exits(self) -> dict[str, int]:
        """How often each supervised process exited by itself."""
        return {g.name: g.log.read_text(errors="replace").count(SUPERVISOR_EXIT) for g in [*self.workers, *self.beats]}

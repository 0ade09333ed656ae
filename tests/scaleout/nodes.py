"""The nodes of the scale-out test's cluster: 2 web nodes, 2 worker nodes and beat, each a process group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.scaleout.cluster import BIN, ROOT, START_TIMEOUT, Broker, Database, Group, free_port, http_ok, wait_until
from tests.scaleout.netns import Forwarder, WorkerHost

SUPERVISOR_EXIT = "supervisor: the process exited"


def supervised(argv: list[str]) -> list[str]:
    """``argv`` started again whenever it exits, as a process supervisor (systemd ``Restart=always``) would.

    Celery 5.7's worker exits on a Redis broker restart while it holds unacknowledged messages (kombu's redis
    transport fails to restore them: ``AttributeError: 'NoneType' object has no attribute 'hostname'``); a
    supervised node comes back, and the test counts how often that happened.
    """
    loop = f'while :; do "$@"; echo "{SUPERVISOR_EXIT} with status $?"; sleep 1; done'
    return ["bash", "-c", loop, "node", *argv]


class Cluster:
    """2 web nodes, 2 worker nodes and one beat on ``database`` and ``broker``; ``home`` holds their folders and logs.

    A web node is a gunicorn master with its workers; a worker node a Celery worker with its pool; beat runs in a
    process group of its own, started once (TODO(startup): beat under the advisory lock, `bin/node`).
    """

    def __init__(
        self, home: Path, database: Database, broker: Broker, env: dict[str, str], host: WorkerHost | None = None
    ) -> None:
        self.home, self.database, self.broker, self.host = home, database, broker, host
        self.web_ports = [free_port(), free_port()]
        self.base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
            "DATABASE_URL": database.url(database.app_role),
            "CELERY_BROKER_URL": broker.url,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.base_env.pop("TEST_DATABASE_NAME", None)
        self.web = [self._web(i, port) for i, port in enumerate(self.web_ports)]
        self.workers = [self._worker(i) for i in range(2)]
        schedule = home / "beat" / "celerybeat-schedule"
        self.beat = self._node(
            "beat",
            supervised(
                [str(BIN / "celery"), "-A", "tpfgo_site", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
            ),
            DATABASE_PURGE_URL=database.url(database.purge_role),
        )

    def _node(self, name: str, argv: list[str], **env: str) -> Group:
        folder = self.home / name
        (folder / "prometheus").mkdir(parents=True, exist_ok=True)
        node_env = {
            **self.base_env,
            "TPFGO_VAR_DIR": str(folder / "var"),
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
            **env,
        }
        return Group(name, argv, node_env, folder / "node.log")

    def _web(self, index: int, port: int) -> Group:
        argv = [str(BIN / "gunicorn"), "tpfgo_site.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        argv += [
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "60",
            "-c",
            "python:tpfgo_site.gunicorn_conf",
        ]
        return self._node(f"web{index + 1}", argv)

    def _worker(self, index: int) -> Group:
        argv = [str(BIN / "celery"), "-A", "tpfgo_site", "worker", "--loglevel", "INFO", "--concurrency", "2"]
        argv += ["-n", f"worker{index + 1}@%h"]
        database = self.database
        if index == 1 and self.host is not None:
            # The second worker node is a host of its own: everything it reaches is on its link's far side.
            self.forwarder = Forwarder(self.host.address, ("127.0.0.1", database.port))
            at = f"{self.host.address}:{self.forwarder.port}"
            return self._node(
                "worker2",
                self.host.wrap(supervised(argv)),
                DATABASE_URL=database.url(database.app_role, at=at),
                DATABASE_PURGE_URL=database.url(database.purge_role, at=at),
                CELERY_BROKER_URL=self.broker.url_at(self.host.address),
            )
        return self._node(f"worker{index + 1}", supervised(argv), DATABASE_PURGE_URL=database.url(database.purge_role))

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
        """Migrate, grant the roles, load the demo data; the ops token the clients use."""
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("setup_db_roles", "--app-role", self.database.app_role, "--purge-role", self.database.purge_role)
        self.manage("load_demo")
        return self.manage("create_token", "ops", "--name", "chaos-load").strip()

    def start(self) -> None:
        for group in [*self.web, *self.workers, self.beat]:
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

    def restart(self, group: Group) -> None:
        """SIGKILL a node's whole process group and start it again."""
        group.kill()
        group.start()

    def stop(self) -> None:
        for group in [*self.web, *self.workers, self.beat]:
            group.stop()
        if self.host is not None:
            self.forwarder.close()

    def exits(self) -> dict[str, int]:
        """How often each supervised process exited by itself."""
        return {g.name: g.log.read_text(errors="replace").count(SUPERVISOR_EXIT) for g in [*self.workers, self.beat]}

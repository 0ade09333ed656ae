"""A TPFGo cluster on one machine for the scale-out test: its own broker, a fresh PostgreSQL database, web and
worker nodes as separate process groups.

Nothing here touches the machine's shared services beyond creating and dropping one database and two roles on
the shared PostgreSQL server: the broker (a Redis server or a RabbitMQ node) is this cluster's own, on free ports,
in the cluster's folder. Every process is started in its own session (``setsid``), so a node is killed as a whole
with one signal to its group, like a host dying.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, ready: Callable[[], Any], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise TimeoutError(f"{what} within {timeout:.0f}s\n{tail}")
        time.sleep(0.2)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Group:
    """One process group (a node, or the broker): started with ``setsid``, its output in ``log``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n---- start #{self.starts} of {self.name} at {time.time():.3f}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole group, as a host losing power: no process of it gets to clean up."""
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=30)
        wait_until(f"{self.name}'s processes to end", lambda: not group_alive(self.process.pid), 30)  # type: ignore[union-attr]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the group; SIGKILL what still runs after ``timeout``."""
        if self.process is None or not group_alive(self.process.pid):
            return
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(self.process.pid):
            self.signal(signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A group whose only members are zombies counts as gone.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class Broker:
    """The cluster's own broker on a free port; ``restart`` stops it and starts it again on the same port."""

    url: str
    group: Group
    port: int

    def url_at(self, address: str) -> str:
        """The URL a node on another host uses (the broker also listens on that host's link address)."""
        return self.url.replace("127.0.0.1", address)

    def start(self) -> None:
        self.group.start()
        wait_until(f"{self.group.name} to listen", self.ready, START_TIMEOUT, self.group.log)

    def ready(self) -> bool:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        self.group.stop()


class RedisBroker(Broker):
    """``redis-server`` without persistence: a restart loses every queued message (the sweeper must resend).

    With ``tls`` it serves TLS only (``rediss://``), with a certificate for 127.0.0.1 signed by itself; the URL
    names that certificate as its CA (``ssl_ca_certs``), and ``ca`` is its path.
    """

    def __init__(self, home: Path, also: str | None = None, tls: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.ca: Path | None = None
        bind = ["127.0.0.1", *([also] if also else [])]
        argv = ["redis-server", "--port", str(self.port), "--bind", *bind, "--save", "", "--appendonly", "no"]
        if tls:
            self.ca, key = home / "redis-cert.pem", home / "redis-key.pem"
            self_signed_certificate("127.0.0.1", self.ca, key)
            self.url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
            argv[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            argv += ["--tls-cert-file", str(self.ca), "--tls-key-file", str(key), "--tls-auth-clients", "no"]
        # Reached from the test's own namespace only (its link's address), so no password: protected mode off.
        argv += ["--protected-mode", "no"] if also else []
        argv += ["--dir", str(home)]
        self.group = Group("redis", argv, dict(os.environ), home / "redis.log")

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
                conn = (
                    ssl.create_default_context(cafile=self.ca).wrap_socket(raw, server_hostname="127.0.0.1")
                    if self.ca
                    else raw
                )
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def self_signed_certificate(address: str, cert: Path, key: Path) -> None:
    """A certificate for ``address`` that is its own CA (a day's validity), and its private key, as PEM files."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class RabbitBroker(Broker):
    """A second RabbitMQ node beside the machine's: its own node name, ports, config, data and log folders.

    It reads none of the machine's RabbitMQ files (``RABBITMQ_CONF_ENV_FILE`` and ``RABBITMQ_CONFIG_FILE`` point
    into the cluster's folder; no plugins), so the shared node on 5672 is never touched. Its data folder survives a
    restart: durable queues and persistent messages come back.
    """

    SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")

    def __init__(self, home: Path, also: str | None = None) -> None:
        self.port, dist_port = free_port(), free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        base = home / "rabbitmq"
        base.mkdir(parents=True, exist_ok=True)
        (base / "env.conf").write_text("")
        (base / "plugins").write_text("[].\n")
        listeners = f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
        if also:
            listeners += f"listeners.tcp.host = {also}:{self.port}\n"
        (base / "rabbitmq.conf").write_text(listeners + "loopback_users = none\n")
        env = {
            **os.environ,
            "HOME": str(base),  # the Erlang cookie of this node's own CLI
            "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_NODENAME": f"tpfgo_chaos_{self.port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.group = Group("rabbitmq", [str(self.SERVER)], env, home / "rabbitmq.log")

    @classmethod
    def available(cls) -> bool:
        return cls.SERVER.exists()

    def ready(self) -> bool:
        import amqp

        try:
            connection = amqp.Connection(f"127.0.0.1:{self.port}", userid="guest", password="guest", connect_timeout=1)
            connection.connect()
            connection.close()
            return True
        except Exception:  # any failure to connect means "not yet"
            return False


@dataclass
class Database:
    """A fresh database on the shared PostgreSQL server, migrated by its owner, served by roles named for it."""

    server_url: str  # the owner's URL of the server's maintenance database
    name: str
    app_role: str = field(init=False)
    purge_role: str = field(init=False)

    def __post_init__(self) -> None:
        self.app_role, self.purge_role = f"{self.name}_app", f"{self.name}_purge"

    def url(self, user: str | None = None, at: str | None = None) -> str:
        """The database's URL, as ``user`` and through ``at`` (``host:port``) when given."""
        from tpfgo_site.dburl import with_user

        base = self.server_url.rsplit("/", 1)[0] + "/" + self.name
        if at is not None:
            scheme, rest = base.split("://", 1)
            credentials = rest.split("@", 1)[0] + "@" if "@" in rest else ""
            base = f"{scheme}://{credentials}{at}/{self.name}"
        return base if user is None else with_user(base, user)

    def create(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            for role in (self.app_role, self.purge_role):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
                if exists:
                    conn.execute(f'DROP ROLE "{role}"')

    @property
    def port(self) -> int:
        return int(self.server_url.rsplit(":", 1)[1].split("/", 1)[0])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

"""A worker node as a separate host: a network namespace joined to this machine by a veth pair (iproute2).

The node reaches the database and the broker on the host side's address only: the broker listens there itself, the
shared PostgreSQL server (which listens on 127.0.0.1 and is never reconfigured) through a small TCP forwarder
on that address. ``cut`` takes the host side of the link down, so the node's connections hang as on a network
partition (no reset, no FIN), and ``restore`` brings it back.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import threading

# A /30 of its own per cluster, from a range no service of this machine uses; only this namespace's peer is in it.
SUBNET = "10.213.{}.{}"


def ip(*args: str, namespace: str | None = None) -> None:
    argv = ["ip", *(["netns", "exec", namespace, "ip"] if namespace else []), *args]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None when they can."""
    probe = f"tpfgo_probe_{os.getpid()}"
    try:
        ip("netns", "add", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        return f"ip netns add failed: {detail}"
    ip("netns", "del", probe)
    return None


class WorkerHost:
    """``ip netns`` + veth: the node's address is ``peer``, this machine's side of the link ``address``."""

    def __init__(self, index: int) -> None:
        tag = f"{os.getpid() % 10000}{index}"
        self.namespace = f"tpfgo_chaos_{tag}"
        self.host_link, self.peer_link = f"tcv{tag}h", f"tcv{tag}p"
        octet = (os.getpid() + index) % 250 + 1
        self.address, self.peer = SUBNET.format(octet, 1), SUBNET.format(octet, 2)

    def create(self) -> None:
        ip("netns", "add", self.namespace)
        ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.peer_link)
        ip("link", "set", self.peer_link, "netns", self.namespace)
        ip("addr", "add", f"{self.address}/30", "dev", self.host_link)
        ip("link", "set", self.host_link, "up")
        ip("addr", "add", f"{self.peer}/30", "dev", self.peer_link, namespace=self.namespace)
        ip("link", "set", self.peer_link, "up", namespace=self.namespace)
        ip("link", "set", "lo", "up", namespace=self.namespace)

    def delete(self) -> None:
        for argv in (("netns", "del", self.namespace), ("link", "del", self.host_link)):
            try:
                ip(*argv)
            except subprocess.CalledProcessError:
                pass  # already gone with its namespace

    def wrap(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cut(self) -> None:
        ip("link", "set", self.host_link, "down")

    def restore(self) -> None:
        ip("link", "set", self.host_link, "up")


class Forwarder:
    """Accepts on ``listen`` and relays each connection to ``target`` (the shared PostgreSQL on 127.0.0.1)."""

    def __init__(self, address: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((address, 0))
        self.port = int(self.server.getsockname()[1])
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        pair = {client: upstream, upstream: client}
        try:
            while not self.closed:
                ready, _, _ = select.select(list(pair), [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.closed = True
        self.server.close()

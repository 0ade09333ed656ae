"""``pipelines.BodyReader``: closing it before the body's end asks the server to close the connection and wakes a
read waiting for the client on the server's socket, the reading thread ends, and no read starts after; a body read
to its end leaves the connection as it was; where the server gives no socket, closing waits for the read."""

from __future__ import annotations

import socket
import threading

from pipelines import BodyReader
from pipelines.transport.http_streams import CLOSE_CONNECTION


def test_closing_wakes_a_read_waiting_for_the_client_and_the_reader_ends():
    server, client = socket.socketpair()
    with server, client:
        client.sendall(b'{"line": 1}\n')
        closed: list[bool] = []
        environ = {"gunicorn.socket": server, CLOSE_CONNECTION: lambda: closed.append(True)}
        body = BodyReader(server.makefile("rb"), environ)
        read: list[bytes] = []
        first = threading.Event()

        def reader() -> None:
            while line := body.readline(100):
                read.append(line)
                first.set()

        thread = threading.Thread(target=reader)
        thread.start()
        assert first.wait(10)  # then the next read waits for a line the client never sends
        assert body.close() is True
        thread.join(10)
        assert not thread.is_alive()
        assert read == [b'{"line": 1}\n'] and closed == [True]
        assert body.readline(100) == b""  # closed: no read starts again


def test_a_body_read_to_its_end_leaves_the_connection_open():
    server, client = socket.socketpair()
    with server, client:
        client.sendall(b'{"line": 1}\n')
        client.shutdown(socket.SHUT_WR)
        closed: list[bool] = []
        body = BodyReader(
            server.makefile("rb"), {"gunicorn.socket": server, CLOSE_CONNECTION: lambda: closed.append(1)}
        )
        assert [body.readline(100), body.readline(100)] == [b'{"line": 1}\n', b""]
        assert body.close() is True and closed == []
        server.sendall(b"the next answer")  # the socket was not shut
        assert client.recv(100) == b"the next answer"


def test_without_a_socket_closing_says_whether_the_read_in_progress_returned():
    started, release = threading.Event(), threading.Event()

    class Slow:
        def readline(self, size: int = -1) -> bytes:
            started.set()
            release.wait(10)
            return b"last\n"

    body = BodyReader(Slow(), {})  # type: ignore[arg-type]  # any object with readline
    thread = threading.Thread(target=body.readline)
    thread.start()
    assert started.wait(10)
    assert body.close(wait=0) is False
    release.set()
    thread.join(10)
    assert body.close(wait=10) is True and body.readline() == b""

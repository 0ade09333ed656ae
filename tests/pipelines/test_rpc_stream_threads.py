"""The reader thread of a client-streaming gRPC call (``idle_limited``) writes its lines with the call's log context."""

from collections.abc import Iterator

import structlog

from pipelines.transport.rpc_streams import idle_limited

log = structlog.get_logger("tests.rpc_stream_threads")


def requests() -> Iterator[int]:
    """Messages as grpcio's request iterator gives them: each taken, and logged, in the reader thread."""
    for number in (1, 2):
        log.info("test.message_read", number=number)
        yield number


def test_the_reader_threads_lines_carry_the_calls_request_id():
    structlog.contextvars.bind_contextvars(request_id="call-1")
    try:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            assert list(idle_limited(requests(), 10)) == [1, 2]
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    read = [line for line in logs if line["event"] == "test.message_read"]
    assert [(line["number"], line.get("request_id")) for line in read] == [(1, "call-1"), (2, "call-1")]

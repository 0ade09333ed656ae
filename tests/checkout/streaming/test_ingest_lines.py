"""The NDJSON reader's line limit (a test's own, given to the reader): a line of exactly the limit is read and one
byte over is refused with its own error answer, whether it ends in LF, CRLF or the end of the body (the line's end
never counts against the limit), and the next line is read as usual."""

import io
import json

import pytest

from checkout import ingest
from pipelines import Ready

LIMIT = 200


def sized(key: str, size: int) -> bytes:
    """A line of exactly ``size`` bytes (without its end): ``{"idempotencyKey": key, "order": {}}`` padded."""
    text = json.dumps({"idempotencyKey": key, "order": {}}).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def read(body: bytes) -> list[object]:
    out = []
    for item in ingest.ndjson_lines(io.BytesIO(body), LIMIT):
        out.append(item.result["error"]["message"] if isinstance(item, Ready) else item.key)
    return out


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_line_of_exactly_the_limit_is_read_and_one_byte_over_is_refused(end):
    body = sized("exact", LIMIT) + end + sized("over", LIMIT + 1) + end + sized("next", 10) + end
    assert read(body) == ["exact", f"line 2: longer than {LIMIT} bytes", "next"]


def test_a_final_line_without_its_end_is_bounded_the_same():
    assert read(sized("exact", LIMIT)) == ["exact"]
    assert read(sized("exact", LIMIT) + b"\r") == ["exact"]
    assert read(sized("over", LIMIT + 1)) == [f"line 1: longer than {LIMIT} bytes"]


def test_a_line_far_over_the_limit_is_skipped_to_its_end():
    body = sized("huge", LIMIT * 5) + b"\r\n" + sized("next", 10) + b"\r\n"
    assert read(body) == [f"line 1: longer than {LIMIT} bytes", "next"]

"""The token of an ingest stream checked again while it places lines (``checkout.ingest.TokenWatch``): at most once
per ``TPFGO_INGEST_TOKEN_CHECK_SECONDS``, and once it was found revoked, no line placed after and every line placed
before answered. The transports' own tests (``test_ingest_rest.py``, ``test_ingest_grpc.py``) revoke a real token."""

import threading

import pytest

from checkout import ingest
from checkout.order_request.models import OrderRequest
from pipelines import Stage, Stream, WireError
from tests.checkout.conftest import order_body


@pytest.mark.django_db(transaction=True)
def test_the_token_is_checked_again_once_per_interval_not_once_per_line(demo_data, settings):
    settings.TPFGO_INGEST_BATCH = 1  # one line per placement: with no interval, one check per line
    checks: list[int] = []
    settings.TPFGO_INGEST_TOKEN_CHECK_SECONDS = 3600
    lines = [ingest.Line(number, f"interval-{number}", order_body()) for number in range(1, 6)]
    placed = list(ingest.answers(lines, lambda: checks.append(1)))
    assert [a["state"] for a in placed] == ["COMPLETED"] * 5
    assert checks == []  # the request's own check, when the stream started, holds for the interval
    settings.TPFGO_INGEST_TOKEN_CHECK_SECONDS = 0
    replayed = list(ingest.answers(lines, lambda: checks.append(1)))
    assert replayed == placed and len(checks) == 5
    assert OrderRequest.objects.count() == 5


def test_a_line_being_placed_when_the_revocation_is_seen_is_answered_though_an_earlier_line_was_not_placed():
    """Two workers: line 2 passes the check and is being placed; line 1's worker, delayed before the check, finds
    the token revoked. Line 1 is not placed and gets no answer; line 2's answer still comes, then the end."""
    line_2_placing, revoked_seen = threading.Event(), threading.Event()
    checks: list[int] = []
    placed: list[int] = []

    def authenticated() -> None:
        checks.append(1)
        if len(checks) > 1:
            revoked_seen.set()
            raise WireError("UNAUTHENTICATED", "Invalid token.")

    def place(line: ingest.Line) -> dict:
        placed.append(line.number)
        line_2_placing.set()
        assert revoked_seen.wait(10)  # still placing when the other worker's check sees the revocation
        return {"idempotencyKey": line.key, "state": "COMPLETED"}

    watch = ingest.TokenWatch(authenticated, every=0)
    guarded = watch.placing(place, batch=False)

    def worker_fn(line: ingest.Line) -> dict:
        if line.number == 1:
            assert line_2_placing.wait(10)  # this worker is slower to reach the check
        return guarded(line)

    stream = Stream("ingest-test", [Stage("place", worker_fn, workers=2)], refuse=ingest.refuse)
    lines = [ingest.Line(number, f"drain-{number}", {}) for number in (1, 2)]
    answered = watch.answered(stream.run(watch.source(lines)), "The stream is ended.")
    received = []
    with pytest.raises(ingest.TokenRevoked) as ended:
        for answer in answered:
            received.append(answer)
    assert placed == [2]
    assert received == [{"idempotencyKey": "drain-2", "state": "COMPLETED"}]
    assert (ended.value.code, ended.value.message) == ("UNAUTHENTICATED", "Invalid token. The stream is ended.")

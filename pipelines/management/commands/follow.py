"""``manage.py follow PUBLICATION``: the reference subscriber, over HTTP, of another TPFGo instance (or this one).

Prints each item of the publication as one JSON line on stdout (pipe it into whatever forwards it), acknowledges
its position every ``--ack-every`` items or ``--ack-seconds`` and when it stops, and reconnects after a dropped
connection from its newest acknowledged position (``start=acked``). A subscribe refused for now (the process is full,
the database away, or another live follow holds the subscriber name: perhaps this follower's own dropped connection
the server has not noticed yet) is tried again after its ``Retry-After``. Items already printed by this process are not
printed again (deduplicated by checkpoint id); across a restart, the items after the last acknowledgement come
again (at-least-once: a downstream deduplicates by ``checkpointId``). Its own logs go to stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

# RESOURCE_EXHAUSTED (the subscriber cap), UNAVAILABLE, ALREADY_EXISTS (another live follow of the name): for now
RETRYABLE = frozenset({409, 429, 503})


def retry_after(error: urllib.error.HTTPError, default: float) -> float:
    """The refusal's ``Retry-After`` in seconds (at most an hour), else ``default``."""
    try:
        return min(3600.0, max(0.0, float(error.headers.get("Retry-After", ""))))
    except ValueError:
        return default


class Follower:
    """One named subscriber of one publication, read over ``POST {url}/api/v1/subscriptions/stream``."""

    def __init__(self, url: str, token: str, publication: str, subscriber: str, *, ack_every: int, ack_seconds: float):
        self.url, self.token = url.rstrip("/"), token
        self.publication, self.subscriber = publication, subscriber
        self.ack_every, self.ack_seconds = ack_every, ack_seconds
        self.position = 0  # the newest position received (acknowledged at the next ack)
        self.acked = -1
        self.unacked = 0
        self.last_ack = time.monotonic()
        self.printed = 0
        self._seen: deque[str] = deque(maxlen=100_000)
        self._seen_set: set[str] = set()
        self.stopping = False

    def _request(self, path: str, body: dict[str, Any], timeout: float | None) -> Any:
        request = urllib.request.Request(  # noqa: S310  (the URL is the operator's --url)
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310

    def ack(self) -> None:
        if self.position in (self.acked, 0):  # nothing new; nothing at all (a refused subscribe records no one)
            return
        body = {"publication": self.publication, "subscriber": self.subscriber, "position": self.position}
        with self._request("/api/v1/subscriptions/ack", body, timeout=30) as response:
            json.load(response)
        self.acked, self.unacked, self.last_ack = self.position, 0, time.monotonic()

    def _due(self) -> bool:
        return self.unacked >= self.ack_every or time.monotonic() - self.last_ack >= self.ack_seconds

    def _emit(self, item: dict[str, Any], out: OutputWrapper) -> None:
        checkpoint_id = item["checkpointId"]
        if checkpoint_id not in self._seen_set:
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(checkpoint_id)
            self._seen_set.add(checkpoint_id)
            out.write(json.dumps(item, separators=(",", ":")) + "\n")
            out.flush()
            self.printed += 1
            self.unacked += 1

    def stream_once(self, start: str, out: OutputWrapper, limit: int | None) -> bool:
        """Read one connection's lines; True when ``limit`` items were printed (or a stop was asked)."""
        body = {"publication": self.publication, "subscriber": self.subscriber, "start": start}
        with self._request("/api/v1/subscriptions/stream", body, timeout=None) as response:
            for raw in response:
                line = json.loads(raw)
                if "error" in line:  # the server ended the follow (another took the subscriber name over): reconnect
                    print(f"follow: the stream ended: {line['error'].get('message', '')}", file=sys.stderr)
                    return self.stopping
                if not line.get("heartbeat"):
                    self._emit(line, out)
                self.position = max(self.position, int(line["position"]))
                if self._due():
                    self.ack()
                if self.stopping or (limit is not None and self.printed >= limit):
                    return True
        return self.stopping


class Command(BaseCommand):
    help = "Follow a publication of a TPFGo instance over HTTP: print each item as JSON, acknowledge positions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("publication", help="the publication's name with its .vN")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the instance's base URL")
        parser.add_argument("--token", required=True, help="an API token that may subscribe")
        parser.add_argument("--subscriber", required=True, help="this follower's name (its acknowledgements)")
        parser.add_argument("--start", default="acked", help="'acked' (default), 'now', 0 or a log position")
        parser.add_argument("--ack-every", type=int, default=100, help="acknowledge after this many items")
        parser.add_argument("--ack-seconds", type=float, default=5.0, help="... or after this many seconds")
        parser.add_argument("--max-items", type=int, default=None, help="stop after printing this many items")
        parser.add_argument("--retry-seconds", type=float, default=1.0, help="wait before reconnecting")

    def handle(self, *args: str, **options: Any) -> None:
        url = urllib.parse.urlsplit(options["url"])
        try:
            port = url.port  # a port that is no number or out of range: ValueError
        except ValueError:
            port = -1
        if url.scheme not in ("http", "https") or not url.hostname or port == -1:  # else it retried for ever
            raise CommandError(f"--url {options['url']!r}: an http:// or https:// address of the instance")
        if not 0 <= options["retry_seconds"] <= 3600:
            raise CommandError("--retry-seconds must be from 0 to 3600")
        if not 0 < options["ack_seconds"] <= 3600:  # NaN too: it never acknowledged by time
            raise CommandError("--ack-seconds must be above 0 and at most 3600")
        if options["ack_every"] < 1:
            raise CommandError("--ack-every must be at least 1")
        if options["max_items"] is not None and options["max_items"] < 1:  # 0 printed the first item all the same
            raise CommandError("--max-items must be at least 1")
        follower = Follower(
            options["url"],
            options["token"],
            options["publication"],
            options["subscriber"],
            ack_every=options["ack_every"],
            ack_seconds=options["ack_seconds"],
        )

        def stop(signum: int, frame: object) -> None:
            follower.stopping = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        start = options["start"]
        try:
            while True:
                try:
                    if follower.stream_once(start, self.stdout, options["max_items"]):
                        break
                except urllib.error.HTTPError as exc:
                    if exc.code not in RETRYABLE:
                        raise CommandError(f"subscribe refused: {exc.code} {exc.read().decode('utf-8', 'replace')}")
                    # The process is full (429) or its database is away (503): the refusal says when to come back.
                    wait = retry_after(exc, options["retry_seconds"])
                    print(f"follow: refused with {exc.code}; retrying in {wait:g} s", file=sys.stderr)
                    time.sleep(wait)
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    print(f"follow: connection lost ({exc}); reconnecting", file=sys.stderr)
                if follower.position:  # a position came (and is acknowledged below): resume after it
                    start = "acked"
                # else nothing came: the same start again (acked would mean the log's beginning, never --start)
                time.sleep(options["retry_seconds"])
                try:
                    follower.ack()  # what was printed before the drop: resume after it
                except (urllib.error.URLError, OSError) as exc:
                    print(f"follow: acknowledgement failed ({exc}); retrying", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        finally:
            try:
                follower.ack()
            except (urllib.error.URLError, OSError) as exc:
                print(f"follow: last acknowledgement failed ({exc})", file=sys.stderr)

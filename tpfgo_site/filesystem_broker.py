"""kombu's filesystem transport (the embedded default broker), with one contained fix: a message file appears whole.

kombu 5.7's ``_put`` opens the message's file under its final name, then serializes the message and writes it. A
worker polling the folder in between finds the file, moves it away and reads it empty: the worker stops on
``Unrecoverable error: JSONDecodeError('Expecting value: line 1 column 1 (char 0)')`` (which stops ``make run``),
and the message, written afterwards into the file the worker already removed, is lost. Beat publishing a periodic
task while the worker polls its queue is enough.

Here a message is written under a hidden name (a leading dot, which no queue's messages match) and renamed to its
final name once written: a rename within one folder is atomic, so a worker sees no file or the whole message
(``tests/test_filesystem_broker.py``). Reading is kombu's own.

``tpfgo_site/settings.py`` names this transport for the ``filesystem://`` broker URL (``CELERY_BROKER_TRANSPORT``).
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem as kombu_filesystem
from kombu.utils.json import dumps


class Channel(kombu_filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put ``payload`` on ``queue``: written under a hidden name, then renamed to the name kombu reads."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's own name: its reader's order
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as file:
                file.write(dumps(payload).encode("utf-8"))  # type: ignore[no-untyped-call]
            os.replace(partial, final)
        except OSError as exc:
            with suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(kombu_filesystem.Transport):
    Channel = Channel

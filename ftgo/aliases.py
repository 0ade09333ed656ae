"""FTGO's numbers for TPFGo's ids: look one up, or give one out (an insert into the alias ledger).

A number is given out the first time a TPFGo id is shown to an FTGO client, by the insert itself (the identity
column's sequence on PostgreSQL, the AUTOINCREMENT counter on SQLite). Two requests that race for the same id both
end with the one row the unique (kind, tpfgo_id) constraint let in. A courier's number is the client's (FTGO
clients name their couriers); if the sequence later reaches a number a client took, the insert fails on the
primary key and takes the sequence's next number. A courier TPFGo numbers itself (one it made, not one a client
named) is numbered past a Java ``int``: ``COURIERS_FROM`` plus the sequence's next number.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Min, OuterRef
from django.utils import timezone

from ftgo.models import FtgoAlias
from pipelines import AlreadyExists, Detail, NotFound, Unavailable

# Sequence numbers a client had already taken, skipped in a row before giving up (one is already unlikely).
_ATTEMPTS = 5
MAX_NUMBER = 2**63 - 1
# FTGO's clients hold a consumer's, restaurant's and order's number in a Java int, a courier's in a long: its suite
# reads assignedCourier as a Long, which a JSON number a Java int holds is not (its JSON reader makes it an Integer).
COURIERS_FROM = 2**31


def number_for(kind: str, tpfgo_id: str) -> int:
    """The FTGO number of ``tpfgo_id``, given out now if it has none yet."""
    found = FtgoAlias.objects.filter(kind=kind, tpfgo_id=tpfgo_id).values_list("number", flat=True).first()
    if found is not None:
        return int(found)
    for _ in range(_ATTEMPTS):
        number = _insert(kind, tpfgo_id, COURIERS_FROM + _next() if kind == FtgoAlias.COURIER else None)
        if number is not None:
            return number
    raise Unavailable(f"no FTGO number could be given to {kind} {tpfgo_id}; retry")


def claim(kind: str, number: int, tpfgo_id: str) -> str:
    """Give ``tpfgo_id`` the client's ``number`` unless the number is taken; answers the TPFGo id holding it."""
    held = FtgoAlias.objects.filter(number=number).first()
    if held is None:
        _insert(kind, tpfgo_id, number)
        held = FtgoAlias.objects.filter(number=number).first()
    if held is None or held.kind != kind:
        raise AlreadyExists(f"FTGO id {number} is not a {kind}", [Detail("id", f"taken by another kind than {kind}")])
    return held.tpfgo_id


def _insert(kind: str, tpfgo_id: str, number: int | None) -> int | None:
    """The new row's number; an existing alias's number when a concurrent request inserted it first; None when
    the number was taken by another id."""
    try:
        with transaction.atomic():
            if connection.vendor != "sqlite":
                row = FtgoAlias.objects.create(number=number, kind=kind, tpfgo_id=tpfgo_id, created_at=timezone.now())
            else:
                row = _sqlite_insert(kind, tpfgo_id, number)
    except IntegrityError:
        found = FtgoAlias.objects.filter(kind=kind, tpfgo_id=tpfgo_id).values_list("number", flat=True).first()
        return None if found is None else int(found)
    return int(row.number)


def _next() -> int:
    """The sequence's next number, taken (on SQLite, the ledger's counter's, moved on by one)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":  # the counter moved and read under one write lock
            table = FtgoAlias._meta.db_table
            cursor.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = %s", [table])
            if cursor.rowcount == 0:  # no row has been inserted yet
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, 1)", [table])
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        else:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'number'))", [FtgoAlias._meta.db_table])
        return int(cursor.fetchone()[0])


def _sqlite_insert(kind: str, tpfgo_id: str, number: int | None) -> FtgoAlias:
    """SQLite would number a row past the table's highest key, a client's courier number included (PostgreSQL's
    sequence never sees those): the ledger's own counter gives the number, past numbers clients took, and a
    client's number leaves that counter where it was."""
    table = FtgoAlias._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        issued = int(found[0]) if found else 0
        given = issued + 1 if number is None else number
        if number is None and FtgoAlias.objects.filter(number=given).exists():  # the first free number above
            followed = FtgoAlias.objects.filter(number=OuterRef("number") + 1)
            last = FtgoAlias.objects.filter(~Exists(followed), number__gt=issued).aggregate(Min("number"))
            given = int(last["number__min"]) + 1
        row = FtgoAlias.objects.create(number=given, kind=kind, tpfgo_id=tpfgo_id, created_at=timezone.now())
        if number is not None:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [issued, table])
    return row


def parse(text: object, kind: str) -> int | None:
    """An FTGO id from a URL or a body: a positive integer (JSON number or decimal text), else None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        number = text
    elif isinstance(text, str) and text.isascii() and text.isdigit():
        number = int(text)
    else:
        return None
    return number if 0 < number <= MAX_NUMBER else None


def lookup(kind: str, number: object) -> tuple[int, str]:
    """The FTGO id in a URL and the TPFGo id behind it; NOT_FOUND when malformed, unknown or of another kind."""
    parsed = parse(number, kind)
    found = (
        None
        if parsed is None
        else FtgoAlias.objects.filter(number=parsed, kind=kind).values_list("tpfgo_id", flat=True).first()
    )
    if parsed is None or found is None:
        raise NotFound(f"{kind} {number} not found")
    return parsed, str(found)


def tpfgo_id(kind: str, number: object) -> str:
    return lookup(kind, number)[1]

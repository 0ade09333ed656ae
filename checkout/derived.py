"""Derived tables the database keeps beside the checkpoints, so two hot questions cost one index probe.

- ``CourierLoad``: active deliveries per courier (``DeliveryAssigned`` rows minus ``OrderDelivered`` rows,
  by ``courier_id``, with each ``CourierReassigned`` moving one from its old courier to its new one), read by
  every courier choice. Counting both tables grows with history; this does not.
- ``OpenTicket``: tickets with no final ``AcceptanceDecision`` yet (a revision's ``REVISED`` claim leaves the
  ticket open), by deadline, read by the acceptance timeout.

Both are like an index: written only by database triggers on the checkpoint tables, in the transaction that
inserts the checkpoint (so they can never disagree with the facts), never by the application, and rebuilt
from the checkpoint tables after every migrate (SQLite table rebuilds drop triggers; a rebuild recounts).
A delete (the audited purge path) is counted back out. State stays derived: these rows can be dropped and
rebuilt from the facts at any time (``rebuild``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core import checks
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines import triggers

PREFIX = "tpfgo_derived"
LOAD = "checkout_courierload"
OPEN = "checkout_openticket"
ASSIGNED = "delivery_assigned_deliveryassigned"
DELIVERED = "order_delivered_orderdelivered"
TICKET = "ticket_created_ticketcreated"
DECISION = "acceptance_decision_acceptancedecision"
REASSIGNED = "courier_reassigned_courierreassigned"
_TABLES = {LOAD, OPEN, ASSIGNED, DELIVERED, TICKET, DECISION, REASSIGNED}

# PostgreSQL: statement-level triggers over transition tables (one upsert per statement, couriers locked in
# id order so two batches never deadlock); SQLite: row-level triggers. Plain literals: no value is ever spliced.
_PG = [
    """CREATE OR REPLACE FUNCTION tpfgo_derived_load() RETURNS trigger AS $$
BEGIN
    INSERT INTO checkout_courierload AS l (courier_id, active)
    SELECT courier_id, count(*) * TG_ARGV[0]::int FROM changed GROUP BY courier_id ORDER BY courier_id
    ON CONFLICT (courier_id) DO UPDATE SET active = l.active + EXCLUDED.active;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    # A delete (the audited purge) only moves counts that exist: a table flushed first is never refilled.
    """CREATE OR REPLACE FUNCTION tpfgo_derived_unload() RETURNS trigger AS $$
BEGIN
    UPDATE checkout_courierload AS l SET active = l.active - c.n * TG_ARGV[0]::int
    FROM (SELECT courier_id, count(*) AS n FROM changed GROUP BY courier_id ORDER BY courier_id) AS c
    WHERE l.courier_id = c.courier_id;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    # A reassignment moves one active delivery from the old courier (its sign) to the new one.
    """CREATE OR REPLACE FUNCTION tpfgo_derived_reassigned() RETURNS trigger AS $$
BEGIN
    INSERT INTO checkout_courierload AS l (courier_id, active)
    SELECT courier_id, sum(n) * TG_ARGV[0]::int FROM (
        SELECT courier_id, 1 AS n FROM changed UNION ALL SELECT from_courier_id, -1 AS n FROM changed
    ) AS moves GROUP BY courier_id ORDER BY courier_id
    ON CONFLICT (courier_id) DO UPDATE SET active = l.active + EXCLUDED.active;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION tpfgo_derived_ticket_opened() RETURNS trigger AS $$
BEGIN
    INSERT INTO checkout_openticket (order_id, accept_by)
    SELECT order_id, accept_by FROM changed ON CONFLICT DO NOTHING;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION tpfgo_derived_ticket_closed() RETURNS trigger AS $$
BEGIN
    DELETE FROM checkout_openticket WHERE order_id IN (SELECT order_id FROM changed);
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    # A revision's claim of the decision slot leaves the ticket open: only a final decision closes it.
    """CREATE OR REPLACE FUNCTION tpfgo_derived_ticket_decided() RETURNS trigger AS $$
BEGIN
    DELETE FROM checkout_openticket WHERE order_id IN (SELECT order_id FROM changed WHERE decided_by <> 'REVISED');
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
]
_PG_TRIGGERS = [
    # (name, table, event, transition table, function call)
    ("load_ai", ASSIGNED, "INSERT", "NEW", "tpfgo_derived_load('1')"),
    ("load_ad", ASSIGNED, "DELETE", "OLD", "tpfgo_derived_unload('1')"),
    ("load_ai", DELIVERED, "INSERT", "NEW", "tpfgo_derived_load('-1')"),
    ("load_ad", DELIVERED, "DELETE", "OLD", "tpfgo_derived_unload('-1')"),
    ("move_ai", REASSIGNED, "INSERT", "NEW", "tpfgo_derived_reassigned('1')"),
    ("move_ad", REASSIGNED, "DELETE", "OLD", "tpfgo_derived_reassigned('-1')"),
    ("open_ai", TICKET, "INSERT", "NEW", "tpfgo_derived_ticket_opened()"),
    ("open_ad", TICKET, "DELETE", "OLD", "tpfgo_derived_ticket_closed()"),
    ("close_ai", DECISION, "INSERT", "NEW", "tpfgo_derived_ticket_decided()"),
]
_LOAD_DOWN = "UPDATE checkout_courierload SET active = active - {n} WHERE courier_id = OLD.courier_id"
_LOAD_UP = (
    "INSERT INTO checkout_courierload (courier_id, active) VALUES (NEW.courier_id, {n}) "
    "ON CONFLICT(courier_id) DO UPDATE SET active = active + {n}"
)
_SQLITE_TRIGGERS = [
    # (name, table, event, body)
    ("load_ai", ASSIGNED, "INSERT", _LOAD_UP.format(n=1)),
    ("load_ad", ASSIGNED, "DELETE", _LOAD_DOWN.format(n=1)),
    ("load_ai", DELIVERED, "INSERT", _LOAD_UP.format(n=-1)),
    ("load_ad", DELIVERED, "DELETE", _LOAD_DOWN.format(n=-1)),
    (
        "move_ai",
        REASSIGNED,
        "INSERT",
        _LOAD_UP.format(n=1) + "; " + _LOAD_UP.format(n=-1).replace("NEW.courier_id", "NEW.from_courier_id"),
    ),
    (
        "move_ad",
        REASSIGNED,
        "DELETE",
        _LOAD_DOWN.format(n=1) + "; " + _LOAD_DOWN.format(n=-1).replace("OLD.courier_id", "OLD.from_courier_id"),
    ),
    (
        "open_ai",
        TICKET,
        "INSERT",
        "INSERT INTO checkout_openticket (order_id, accept_by) VALUES (NEW.order_id, NEW.accept_by) "
        "ON CONFLICT DO NOTHING",
    ),
    ("open_ad", TICKET, "DELETE", "DELETE FROM checkout_openticket WHERE order_id = OLD.order_id"),
    (
        "close_ai",
        DECISION,
        "INSERT",
        "DELETE FROM checkout_openticket WHERE order_id = NEW.order_id AND NEW.decided_by <> 'REVISED'",
    ),
]
_REBUILD = [
    "DELETE FROM checkout_courierload",
    """INSERT INTO checkout_courierload (courier_id, active)
    SELECT courier_id, sum(n) FROM (
        SELECT courier_id, 1 AS n FROM delivery_assigned_deliveryassigned
        UNION ALL SELECT courier_id, -1 AS n FROM order_delivered_orderdelivered
        UNION ALL SELECT courier_id, 1 AS n FROM courier_reassigned_courierreassigned
        UNION ALL SELECT from_courier_id, -1 AS n FROM courier_reassigned_courierreassigned
    ) AS moves GROUP BY courier_id""",
    "DELETE FROM checkout_openticket",
    """INSERT INTO checkout_openticket (order_id, accept_by)
    SELECT t.order_id, t.accept_by FROM ticket_created_ticketcreated t
    WHERE NOT EXISTS (
        SELECT 1 FROM acceptance_decision_acceptancedecision d
        WHERE d.order_id = t.order_id AND d.decided_by <> 'REVISED'
    )""",
]


TRIGGERS = triggers.TriggerSet(
    prefix=PREFIX,
    tables=frozenset(_TABLES),
    pg_functions=_PG,
    pg_triggers=[
        (
            name,
            table,
            f"AFTER {event} ON {table} REFERENCING {transition} TABLE AS changed "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {call}",
        )
        for name, table, event, transition, call in _PG_TRIGGERS
    ],
    sqlite_triggers=[
        (name, table, f"AFTER {event} ON {table} BEGIN {body}; END") for name, table, event, body in _SQLITE_TRIGGERS
    ],
    rebuild=_REBUILD,
)


def install(connection: BaseDatabaseWrapper, *, force: bool = False) -> bool:
    """(Re)create the triggers, then rebuild both tables from the checkpoint tables
    (only when missing or stale, unless ``force``)."""
    return TRIGGERS.install(connection, force=force)


def rebuild(using: str = "default") -> None:
    install(connections[using], force=True)


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Names of the derived-table triggers absent from this database (none before the tables exist)."""
    return TRIGGERS.missing(connection)


def after_migrate(sender: object, using: str = "default", **kwargs: object) -> None:
    # post_migrate fires once per app; the checkout app's turn comes after its step apps exist.
    if getattr(sender, "label", None) == "checkout":
        install(connections[using])


def check_triggers(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """System check (database tag): the derived tables' triggers are installed."""
    return TRIGGERS.check(databases, "derived-table", "checkout.E001")

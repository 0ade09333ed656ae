"""The engine's app: triggers after every migrate, the SQLite purge function and WAL checkpoints, the clock's
offset on every new connection, system and contract checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _install_triggers(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from pipelines import triggers
    from pipelines.recovery import aux_branches, frontier
    from pipelines.store import open_parked, open_waits, partition_functions

    # post_migrate fires once per app; installing on the last keeps it to one pass per migrate.
    if sender.label == "pipelines":
        triggers.install(connections[using])
        partition_functions.install(connections[using])
        open_parked.install(connections[using])
        open_waits.install(connections[using])
        frontier.install(connections[using])
        aux_branches.install_indexes(connections[using])


def _on_connection(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    from django.conf import settings

    from pipelines import triggers
    from pipelines.store import clock, walcheckpoint

    triggers.guard_sqlite_connection(connection)
    clock.calibrate(connection)  # how far this node's clock is from the database's (pipelines.store.clock)
    if connection.vendor == "sqlite":
        interval = float(getattr(settings, "TPFGO_SQLITE_CHECKPOINT_SECONDS", 0))
        walcheckpoint.ensure(walcheckpoint.file_of(connection.settings_dict), interval)


def _declare_queues() -> None:
    """The Celery app's queues, one per pipeline a queued publication feeds (``pipelines.engine.queues``), before
    any process publishes or a worker picks what to consume. A broken composition or ``TPFGO_PUBLICATION_MODES``
    declares nothing here: the contract checks report it and refuse to start the process."""
    from celery import current_app
    from django.core.exceptions import ImproperlyConfigured

    from pipelines.contracts.checks import load_composition
    from pipelines.engine import queues

    comp, _ = load_composition()
    if comp is None:
        return
    try:
        queues.declare(current_app, comp)
    except ImproperlyConfigured:
        return


class PipelinesConfig(AppConfig):
    name = "pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import beat_init, worker_init
        from django.core import checks as django_checks

        from pipelines import checks  # noqa: F401  (registers the system checks)
        from pipelines.contracts import checks as contract_checks
        from pipelines.recovery import frontier
        from pipelines.store import open_parked, open_waits, partition_functions

        django_checks.register(open_parked.check_triggers, django_checks.Tags.database)
        django_checks.register(partition_functions.check, django_checks.Tags.database)
        django_checks.register(frontier.check, django_checks.Tags.database)
        django_checks.register(open_waits.check_triggers, django_checks.Tags.database)

        # Handoff contracts: `manage.py check` runs them, and the worker and beat refuse to start on errors.
        django_checks.register(contract_checks.system_check, "contracts")
        worker_init.connect(contract_checks.refuse_worker_start, dispatch_uid="pipelines.contracts.worker")
        beat_init.connect(contract_checks.refuse_beat_start, dispatch_uid="pipelines.contracts.beat")
        # A node whose code is ahead of the database's schema does not start (pipelines.store.schema).
        from pipelines.store import schema

        worker_init.connect(schema.refuse_worker_start, dispatch_uid="pipelines.schema.worker")
        # A worker whose clock is off runs broker mode's later work early or late (pipelines.store.clock).
        from pipelines.store import clock

        worker_init.connect(clock.warn_worker_drift, dispatch_uid="pipelines.clock.worker")
        beat_init.connect(schema.refuse_beat_start, dispatch_uid="pipelines.schema.beat")

        # Backlog figures (dead letters, overdue parked items) on /metrics, computed when scraped.
        from pipelines.recovery import backlog

        backlog.register()
        post_migrate.connect(_install_triggers, dispatch_uid="pipelines.install_triggers")
        connection_created.connect(_on_connection, dispatch_uid="pipelines.sqlite_purge_function")

        from django.conf import settings

        from pipelines.engine import tracing

        _declare_queues()

        tracing.configure()  # off unless the standard OTEL_* variables turn it on (docs/operations.md)

        if getattr(settings, "TPFGO_GC_TUNING", True):
            from pipelines.engine import gctuning

            gctuning.apply()

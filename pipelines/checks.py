"""System checks of the engine's invariants (stable ids, each with a hint)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from django.apps import AppConfig, apps
from django.core import checks
from django.db import connections, models

from pipelines import triggers
from pipelines.engine import trace_export
from pipelines.models import Checkpoint, InsertOnlyModel, InsertOnlyQuerySet, business_key_columns, business_key_fields
from pipelines.store import clock
from pipelines.store.classification import classify


@checks.register("models")
def check_classification(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for model in apps.get_models():
        kind = classify(model)
        if kind is None:
            problems.append(
                checks.Error(
                    f"{model._meta.label} is not classified as checkpoint, ledger or mutable",
                    hint="Subclass pipelines.models.Checkpoint or Ledger, or set tpfgo_kind = 'mutable'.",
                    obj=model,
                    id="pipelines.E001",
                )
            )
            continue
        if issubclass(model, InsertOnlyModel) and not isinstance(model._default_manager.all(), InsertOnlyQuerySet):
            problems.append(
                checks.Error(
                    f"{model._meta.label} is insert-only but its default manager allows update/delete",
                    hint="Use pipelines.models.InsertOnlyManager as the default manager.",
                    obj=model,
                    id="pipelines.E002",
                )
            )
        problems.extend(_foreign_keys(model))
        if issubclass(model, Checkpoint) and not model._meta.abstract and not hasattr(model, "contract"):
            problems.append(
                checks.Error(
                    f"{model._meta.label} declares no contract",
                    hint="Set contract = pipelines.declared(...) on the model and number its fields.",
                    obj=model,
                    id="pipelines.E003",
                )
            )
        if issubclass(model, Checkpoint) and not model._meta.abstract and not business_key_fields(model):
            problems.append(
                checks.Error(
                    f"{model._meta.label} declares no business key",
                    hint="Name the fields of its business key: business_key_fields = (...) on the model.",
                    obj=model,
                    id="pipelines.E007",
                )
            )
        elif issubclass(model, Checkpoint) and not model._meta.abstract and not business_key_columns(model):
            problems.append(
                checks.Error(
                    f"{model._meta.label}: no unique constraint enforces its business key",
                    hint=(
                        "Keep Checkpoint.Meta's unique constraint on business_key, or declare one on exactly "
                        f"its business_key_fields {business_key_fields(model)}."
                    ),
                    obj=model,
                    id="pipelines.E007",
                )
            )
    return problems


def _foreign_keys(model: type[models.Model]) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for field in model._meta.get_fields():
        if not isinstance(field, models.ForeignKey):
            continue
        target = field.related_model
        on_delete = field.remote_field.on_delete
        if isinstance(target, type) and issubclass(target, InsertOnlyModel) and on_delete is not models.PROTECT:
            problems.append(
                checks.Error(
                    f"{model._meta.label}.{field.name} points at insert-only {target._meta.label} without PROTECT",
                    hint="Use on_delete=models.PROTECT: cascades bypass the insert-only managers.",
                    obj=model,
                    id="pipelines.E004",
                )
            )
    return problems


@checks.register("models")
def check_unwritten_checkpoints(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """A checkpoint model no step of the composition in force writes: a step left out of the composition (its app,
    model and migration added, its ``Step`` not), or a step removed with its model left behind. Only the domains the
    composition writes into are held to it (the top-level packages of its models: ``checkout``, ``search``)."""
    from django.conf import settings

    from pipelines.contracts.checks import load_composition
    from pipelines.contracts.rules import written_models

    composition, _ = load_composition()
    if composition is None:
        return []  # pipelines.E010 says why
    written = written_models(composition)
    domains = {model.__module__.split(".", 1)[0] for model in written}
    problems: list[checks.CheckMessage] = []
    for model in apps.get_models():
        if not issubclass(model, Checkpoint) or model._meta.proxy or model in written:
            continue
        if model.__module__.split(".", 1)[0] in domains:
            problems.append(
                checks.Warning(
                    f"checkpoint model {model._meta.label} is written by no step of the composition "
                    f"{settings.TPFGO_COMPOSITION}: nothing ever inserts a row of it, and nothing hands it off",
                    hint=(
                        "Declare the step that writes it in the composition (as its model, an outcome or an aux "
                        'branch: docs/architecture.md, "How to add a step"), or delete the model and its migration.'
                    ),
                    obj=model,
                    id="pipelines.W047",
                )
            )
    return problems


@checks.register("database", checks.Tags.database)
def check_triggers(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for alias in databases or []:
        missing = triggers.missing(connections[alias])
        if missing:
            problems.append(
                checks.Error(
                    f"insert-only triggers missing on {alias}: {', '.join(missing)}",
                    hint="Run 'manage.py migrate' (it reinstalls the triggers after every migration).",
                    id="pipelines.E005",
                )
            )
        if triggers.sqlite_unguarded(connections[alias]):
            problems.append(
                checks.Error(
                    f"recursive_triggers is off on {alias}: INSERT OR REPLACE would delete checkpoints unseen",
                    hint="Open SQLite connections through Django: the pipelines app turns recursive_triggers on.",
                    id="pipelines.E009",
                )
            )
    return problems


# Engine settings with a fixed set of values: a typo fails `manage.py check` (CI, deploys), not a request.
CHOICES: dict[str, tuple[str, ...]] = {
    "TPFGO_ATOMICITY": ("step", "pipeline"),
    "TPFGO_DURABILITY": ("commit", "boundary"),
    "TPFGO_OVERFLOW_POLICY": ("block", "reject"),
    "TPFGO_DELAYED_DELIVERY": ("database", "broker"),
}


@checks.register()
def check_settings(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    from django.conf import settings

    problems: list[checks.CheckMessage] = []
    for name, allowed in CHOICES.items():
        value = getattr(settings, name, allowed[0])
        if value not in allowed:
            problems.append(
                checks.Error(
                    f"{name} is {value!r}",
                    hint=f"Set {name} to one of: {', '.join(allowed)}.",
                    id="pipelines.E006",
                )
            )
    return problems


@checks.register()
def check_delayed_delivery(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """On RabbitMQ the queues are quorum queues (``pipelines.engine.queues.declare``), which take no global QoS: a
    worker holding its prefetch of ETA messages fetches nothing else until they are due, so ``broker`` there would
    hold every retry queued behind a long backoff (up to the 30 min cap)."""
    from django.conf import settings

    from pipelines.engine.queues import amqp

    if getattr(settings, "TPFGO_DELAYED_DELIVERY", "broker") != "broker" or not amqp(settings.CELERY_BROKER_URL):
        return []
    return [
        checks.Error(
            "TPFGO_DELAYED_DELIVERY is broker on a RabbitMQ broker, whose queues TPFGo declares as quorum queues: a "
            "worker holding retries not yet due (Celery ETAs) fetches nothing else until they are",
            hint="Unset TPFGO_DELAYED_DELIVERY (database, the default on RabbitMQ: beat publishes later work when "
            'it is due; docs/operations.md, "Brokers").',
            id="pipelines.E052",
        )
    ]


@checks.register("clock", deploy=True)
def clock_off_in_broker_mode(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """With ``TPFGO_DELAYED_DELIVERY=broker`` a worker holds a retry's or a drain release's message until its ETA by
    its own clock: a node whose clock is off runs that work early or late by as much (run on every worker node)."""
    offset = clock.broker_drift()
    if offset is None:
        return []
    return [
        checks.Warning(
            f"this node's clock is {offset.total_seconds():+.1f} s off the database's (beyond "
            f"{clock.DRIFT_WARNING.total_seconds():.0f} s) while TPFGO_DELAYED_DELIVERY is broker: a worker here runs "
            "retries and drain releases that early or late",
            hint="Sync this node's clock (NTP), or set TPFGO_DELAYED_DELIVERY=database (beat publishes later work "
            "when it is due by the database's clock).",
            id="pipelines.W046",
        )
    ]


@checks.register()
def tracing_exportable(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The ``OTEL_*`` variables ask only for what TPFGo exports (OTLP over HTTP/protobuf, the console): anything else
    keeps tracing off in every process (``pipelines.engine.trace_export``), where it was once sent over OTLP/HTTP."""
    wrong = trace_export.unsupported(os.environ)
    if not wrong:
        return []
    return [
        checks.Error(
            f"tracing is off: TPFGo cannot export {', '.join(wrong)}",
            hint=f"Set OTEL_TRACES_EXPORTER to {' or '.join(trace_export.EXPORTERS)} (a comma list of them), and "
            f"an OTLP protocol, if any, to {trace_export.PROTOCOL} (a collector's OTLP/HTTP port, usually 4318).",
            id="pipelines.E051",
        )
    ]

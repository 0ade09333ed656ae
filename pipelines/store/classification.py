"""Every model is a checkpoint, a ledger or mutable; anything else is a mistake the system check reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pipelines.models import Checkpoint, CheckpointChild, Ledger

# Framework apps whose models are ordinary mutable rows (users, sessions, tokens, admin history).
THIRD_PARTY_MUTABLE = frozenset({"auth", "contenttypes", "sessions", "admin", "authtoken"})


def classify(model: type[models.Model]) -> str | None:
    if issubclass(model, (Checkpoint, CheckpointChild)):
        return "checkpoint"
    if issubclass(model, Ledger):
        return "ledger"
    declared = getattr(model, "tpfgo_kind", None)
    if declared == "mutable":
        return "mutable"
    extra = set(getattr(settings, "TPFGO_MUTABLE_APPS", ()))
    if model._meta.app_label in THIRD_PARTY_MUTABLE | extra:
        return "mutable"
    return None

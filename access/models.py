"""Principals: who an API token acts as (a kind, the consumer, restaurant or courier it is bound to, its scopes).

The token itself is DRF's ``authtoken.Token`` of the principal's user: one token per principal, revoked by
deleting it (the principal row stays, so a revoked name is never silently reused).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from access.scopes import KINDS


class Principal(models.Model):
    """One caller of the API: a kind, a binding ("" for ops, the FTGO gateway and the sink forwarder), scopes."""

    tpfgo_kind = "mutable"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="principal")
    kind = models.CharField(max_length=32, choices=[(name, name) for name in KINDS])
    binding = models.CharField(max_length=64, blank=True, help_text="the consumer, restaurant or courier id")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        bound = f" for {KINDS[self.kind].binds} {self.binding}" if self.binding else ""
        return f"{self.kind}{bound} ({self.user.get_username()})"

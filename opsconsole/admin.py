"""Registers everything the console shows on ``ops_site`` (imported by Django's admin autodiscovery)."""

from __future__ import annotations

from opsconsole import checkpoint_admin, ledger_admin, reference_admin
from opsconsole.site import ops_site

reference_admin.register(ops_site)
ledger_admin.register(ops_site)
checkpoint_admin.register(ops_site)

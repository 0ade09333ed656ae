"""Unhappy paths: the payment authorization is voided."""

"""Unhappy paths: the order is cancelled."""

"""ops-cancel: a captured payment is refunded."""

"""04 kitchen-preparation: one task per line item plus packing (split 1→N)."""

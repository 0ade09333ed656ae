"""02 consumer-validation: the pivot, the first external effect (a decision)."""

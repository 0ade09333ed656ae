"""02 consumer-validation: the approved order."""

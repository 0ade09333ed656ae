"""01 checkout: the order ready for consumer validation."""

"""02 consumer-validation: the consumer and the order minimum are checked (a decision)."""

"""order-cancellation: the kitchen ticket is withdrawn."""

"""order-rejection: the order is rejected (consumer or payment)."""

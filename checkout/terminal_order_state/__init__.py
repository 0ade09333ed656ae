"""08 order-finalization: the order's terminal state."""

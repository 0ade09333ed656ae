"""assign-courier: the courier ops chose for an order."""

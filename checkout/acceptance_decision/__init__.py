"""03 restaurant-acceptance: the order's one acceptance decision, the arbiter of races."""

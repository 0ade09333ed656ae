"""03 restaurant-acceptance: what the decision means (a decision)."""

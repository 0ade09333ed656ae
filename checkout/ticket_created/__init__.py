"""03 restaurant-acceptance: the kitchen ticket."""

"""06 delivery-execution: the order was delivered."""

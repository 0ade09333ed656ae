"""06 delivery-execution: the courier picked the order up."""

"""01 checkout: the order as requested (with its line items)."""

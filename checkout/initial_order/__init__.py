"""01 checkout: the order priced from the menu, with the payment token resolved."""

"""07 payment-capture: captured, rejected or requires review."""

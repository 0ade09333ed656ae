"""resolve-payment-review: ops approved or declined a payment under review."""

"""ops-cancel: ops cancelled an order."""

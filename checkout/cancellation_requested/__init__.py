"""cancellation-request: the consumer asked to cancel."""

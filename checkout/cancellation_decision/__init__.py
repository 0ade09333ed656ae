"""cancellation-request: the cancellation is accepted or refused (a decision)."""

"""The ops console: the custom Django admin site mounted at /ops/."""

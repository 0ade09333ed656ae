"""The wire: status rendering, limits, gRPC and HTTP plumbing, the error-sink endpoints, subscriptions."""

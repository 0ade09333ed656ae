"""What the engine and a domain agree on: contract fields, the declarations (compositions, pipelines,
steps, publications, subscriptions), the step-facing types, errors, ids and status codes, and the checks over
declared compositions."""

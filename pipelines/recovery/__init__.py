"""Above the engine, driving it: retries, the sweeper, resuming traces, ops actions, backlog figures."""

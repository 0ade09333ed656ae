"""The runner, the batch engine, the registry, streaming admission and the engine's metrics and tracing."""

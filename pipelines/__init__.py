"""The checkpoint-pipeline engine: insert-only models, identity, lineage, the runner, error sinks and parking.

It knows nothing of orders; ``checkout`` is one application of it.
"""

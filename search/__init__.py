"""The search lane: a second domain on the engine (docs/lanes.md walks through its files).

A query is received, fanned out to N shard searches (a split), merged within a deadline (a shard that misses it
makes the merge a partial result, not an error), ranked and published; query analytics is an optional side
pipeline. The lane imports only the engine's public face, ``pipelines`` (and ``pipelines.models``); an
import-linter contract in pyproject.toml and tests/search/test_public_face_only.py hold it to that.
"""

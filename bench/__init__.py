"""Benchmarks: runnable as ``python -m bench.<name>``; they print figures and never assert on timings."""

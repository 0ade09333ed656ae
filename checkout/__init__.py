"""The FTGO domain: one Django app per step, the canonical chain's composition, reference data and services."""

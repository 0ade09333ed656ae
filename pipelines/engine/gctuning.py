"""Cyclic garbage collection tuned for a process that keeps its startup objects for its whole life.

A Django process holds a few hundred thousand long-lived objects after start-up (modules, models, URL and
serializer tables). CPython's collector looks at them again and again: every full collection walks them all,
and the default young-generation threshold (700 allocations) starts a collection every few checkpoints of a
batch. Measured on the batched stream (1,000 orders on SQLite): about a fifth of its Python time went to the
collector. So, once the apps are ready:

- ``gc.freeze()`` moves everything alive after start-up into the permanent generation, which no collection
  scans (it also keeps a forked Celery worker's pages shared);
- the young-generation threshold goes from 700 to 10,000 allocations (the older generations keep theirs).

Reference counting still frees almost everything at once; only cycles wait a little longer. ``TPFGO_GC_TUNING=0``
leaves the interpreter's defaults.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000

_applied = False


def apply() -> bool:
    """Freeze the start-up objects and raise the young threshold, once per process; ``True`` if it did."""
    global _applied
    if _applied:
        return False
    _applied = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return True

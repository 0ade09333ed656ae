"""The composition this site runs (``TPFGO_COMPOSITION``): the FTGO checkout chain and the search lane, side by
side. Neither domain knows of the other; the engine runs their combination (``pipelines.combine``)."""

from __future__ import annotations

from checkout.composition import COMPOSITION as CHECKOUT
from pipelines import combine
from search.composition import COMPOSITION as SEARCH

COMPOSITION = combine(CHECKOUT, SEARCH)

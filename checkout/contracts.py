"""Codes the steps of the canonical chain share (reasons several steps write and the derived state reads).

A checkpoint's contract is declared on its model, next to the fields it hands off (``pipelines.contracts``:
``numbered`` fields and ``contract = declared(...)``); names are docs/chain.md's, and a field's number is
stable forever (a removed field's number is never reused).
"""

from __future__ import annotations

# Codes shared by several steps and the derived state.
RESTAURANT_DECLINED = "RESTAURANT_DECLINED"
ACCEPTANCE_TIMED_OUT_REASON = "ACCEPTANCE_TIMED_OUT"
CONSUMER_CANCELLED = "CONSUMER_CANCELLED"
OPS_CANCELLED = "OPS_CANCELLED"
PAYMENT_REJECTED = "PAYMENT_REJECTED"
PAYMENT_REVIEW_DECLINED = "PAYMENT_REVIEW_DECLINED"

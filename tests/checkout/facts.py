"""What one completed order writes, read from the chain as composed (``checkout/composition.py``): the tests that
count an order's facts, hand-offs or log rows take their numbers from here, so a step added to the chain changes no
test's number (docs/architecture.md, "How to add a step")."""

from __future__ import annotations

from collections import Counter

from checkout.composition import CHAIN, COMPOSITION
from pipelines.contracts.declarations import type_label

# The steps of the chain that return SKIP for a completed order, so write nothing: its payment was captured, so
# there is no authorization to void. A new step that skips on the happy path is named here.
SKIPPED_WHEN_COMPLETED = frozenset({"order-finalization/authorization_voided"})


def completed_order_facts(lines: int = 1, *, after: str | None = None) -> Counter[str]:
    """The checkpoint types (contract names) one completed order of ``lines`` order lines writes on its branch, with
    their counts: one per step of the chain, the kitchen split one task per line and one to pack. ``after`` (a chain
    pipeline's name): only the pipelines after it, what a fork from its output writes again."""
    names = [pipeline.name for pipeline in CHAIN]
    chain = CHAIN[names.index(after) + 1 :] if after else CHAIN
    facts: Counter[str] = Counter()
    for pipeline in chain:
        for step in pipeline.steps:
            if f"{pipeline.name}/{step.name}" not in SKIPPED_WHEN_COMPLETED:
                facts[type_label(step.model)] += lines + 1 if step.shape == "split" else 1
    return facts


def completed_order_rows(lines: int = 1, *, after: str | None = None) -> int:
    """How many checkpoints (and checkpoint-log rows: one each) one completed order writes."""
    return sum(completed_order_facts(lines, after=after).values())


def completed_order_handoffs() -> int:
    """The hand-offs one completed order makes: one per subscription of a chain pipeline to a chain output."""
    chain = {pipeline.name for pipeline in CHAIN}
    outputs = {pipeline.output.name for pipeline in CHAIN}
    return sum(1 for s in COMPOSITION.subscriptions if s.publication in outputs and s.pipeline in chain)

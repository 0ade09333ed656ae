"""Variants of the shipped composition for race tests: the same pipelines, one subscription removed."""

import dataclasses

from checkout.composition import COMPOSITION

# Acceptance publishes, but nobody starts preparation: a test starts it by hand to race a cancellation.
WITHOUT_KITCHEN = dataclasses.replace(
    COMPOSITION, subscriptions=tuple(s for s in COMPOSITION.subscriptions if s.pipeline != "kitchen-preparation")
)

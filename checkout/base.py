"""The base of every checkout checkpoint: one fact of each kind per order and branch, found by its order id.

The business key is the order id on a lineage branch, so the unique constraint on ``(order_id, branch)`` is both
the business key (it decides races: a second fact of the kind for the order and branch is refused) and the index
every look-up by order uses; the ``business_key`` text column is kept for display and carries no index of its own
(``pipelines.E007`` checks that one of the two is unique).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from pipelines import numbered
from pipelines.models import MAIN_BRANCH, Checkpoint

# The business key of an order's facts: the order, on one lineage branch (a fork re-runs an order on a branch of
# its own, docs/operations.md "Fork from a checkpoint"; every order starts on pipelines.models.MAIN_BRANCH).
ORDER_KEY = ("order_id", "branch")


class OrderCheckpoint(Checkpoint):
    business_key_fields: ClassVar[tuple[str, ...]] = ORDER_KEY
    branch_field: ClassVar[str | None] = "branch"

    order_id = numbered(1, models.UUIDField(editable=False))
    branch = models.CharField(max_length=36, default=MAIN_BRANCH, editable=False)

    class Meta(Checkpoint.Meta):
        abstract = True
        constraints = [models.UniqueConstraint(fields=["order_id", "branch"], name="%(app_label)s_%(class)s_bk")]


class RevisionCheckpoint(Checkpoint):
    """The base of a revision's checkpoints: one fact of each kind per revision, found by the revision id.

    An order has any number of revisions, so the business key is the revision id (deterministic from the
    order id and the client's key); ``order_id`` is indexed for the order's revision history.
    """

    business_key_fields: ClassVar[tuple[str, ...]] = ("revision_id",)

    revision_id = numbered(1, models.UUIDField(editable=False))
    order_id = numbered(2, models.UUIDField(editable=False, db_index=True))

    class Meta(Checkpoint.Meta):
        abstract = True
        constraints = [models.UniqueConstraint(fields=["revision_id"], name="%(app_label)s_%(class)s_bk")]

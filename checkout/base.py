"""The base of every checkout checkpoint: one fact of each kind per order, found by its order id.

The business key is the order id, so the unique constraint on ``order_id`` is both the business key (it decides
races: a second fact of the kind for the order is refused) and the index every look-up by order uses; the
``business_key`` text column is kept for display and carries no index of its own (``pipelines.E007`` checks
that one of the two is unique).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from pipelines import numbered
from pipelines.models import Checkpoint


class OrderCheckpoint(Checkpoint):
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id",)

    order_id = numbered(1, models.UUIDField(editable=False))

    class Meta(Checkpoint.Meta):
        abstract = True
        constraints = [models.UniqueConstraint(fields=["order_id"], name="%(app_label)s_%(class)s_bk")]


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

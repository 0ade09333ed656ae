"""Consumers' views of lane contracts that drift from the producer's: abstract, so no table and no migration.

The contract checks only read a model's ``contract``; these stand for a consumer app that declares its own model of
an upstream contract, or for the next version of a lane checkpoint.
"""

from __future__ import annotations

from django.db import models

from pipelines.contracts.fields import contract
from pipelines.models import Checkpoint, CheckpointChild
from tests.lane.models import DocumentReceived


class IndexedRenamed(Checkpoint):
    """DocumentIndexed as a consumer sees it, with field #2 called ``summary``."""

    contract = contract("DocumentIndexed", 1, (1, "docId", "uuid"), (2, "summary", "string"), (3, "tokens", "int"))

    class Meta(Checkpoint.Meta):
        abstract = True


class IndexedRetyped(Checkpoint):
    """DocumentIndexed as a consumer sees it, with ``tokens`` as a string."""

    contract = contract("DocumentIndexed", 1, (1, "docId", "uuid"), (2, "digest", "string"), (3, "tokens", "string"))

    class Meta(Checkpoint.Meta):
        abstract = True


class IndexedRenumbered(Checkpoint):
    """DocumentIndexed as a consumer sees it, with ``digest`` at number 4."""

    contract = contract("DocumentIndexed", 1, (1, "docId", "uuid"), (4, "digest", "string"), (3, "tokens", "int"))

    class Meta(Checkpoint.Meta):
        abstract = True


class IndexedV2(Checkpoint):
    """The next version of DocumentIndexed: ``tokens`` is gone (a breaking change, so version 2)."""

    contract = contract("DocumentIndexed", 2, (1, "docId", "uuid"), (2, "digest", "string"))

    class Meta(Checkpoint.Meta):
        abstract = True


class IndexedWithLanguage(Checkpoint):
    """DocumentIndexed with an added optional field #4 (an additive change under the same version)."""

    contract = contract(
        "DocumentIndexed",
        1,
        (1, "docId", "uuid"),
        (2, "digest", "string"),
        (3, "tokens", "int"),
        (4, "language", "string", False),
    )

    class Meta(Checkpoint.Meta):
        abstract = True


class IndexedWithoutTokens(Checkpoint):
    """DocumentIndexed with ``tokens`` removed but the version left at 1 (a breaking change without a bump)."""

    contract = contract("DocumentIndexed", 1, (1, "docId", "uuid"), (2, "digest", "string"))

    class Meta(Checkpoint.Meta):
        abstract = True


class PublishedOfReceived(Checkpoint):
    """DocumentPublished with a foreign key to the DocumentReceived it was published from."""

    contract = contract("DocumentPublished", 1, (1, "docId", "uuid"), (2, "digest", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    digest = models.TextField()
    received = models.ForeignKey(DocumentReceived, on_delete=models.PROTECT)

    class Meta(Checkpoint.Meta):
        abstract = True


class PublishedWithNotes(Checkpoint):
    """DocumentPublished whose rows own notes (``NoteOfReceived``)."""

    contract = contract("DocumentPublished", 1, (1, "docId", "uuid"), (2, "digest", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    digest = models.TextField()

    class Meta(Checkpoint.Meta):
        abstract = True


class NoteOfReceived(CheckpointChild):
    """A child row of ``PublishedWithNotes`` with a foreign key to the DocumentReceived it was published from."""

    published = models.ForeignKey(PublishedWithNotes, on_delete=models.PROTECT)
    received = models.ForeignKey(DocumentReceived, on_delete=models.PROTECT)
    note = models.CharField(max_length=50)

    class Meta(CheckpointChild.Meta):
        abstract = True


class PublishedOnForks(Checkpoint):
    """DocumentPublished written on forks too, its branch column declared first in its business key (E050)."""

    contract = contract("DocumentPublished", 1, (1, "docId", "uuid"), (2, "digest", "string"))
    business_key_fields = ("branch", "doc_id")
    branch_field = "branch"
    doc_id = models.UUIDField()
    digest = models.TextField()
    branch = models.CharField(max_length=36)

    class Meta(Checkpoint.Meta):
        abstract = True

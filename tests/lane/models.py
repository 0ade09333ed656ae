"""Checkpoints of the test lane: a document, its tokens (split), its index (merge), its publication."""

from __future__ import annotations

from django.db import models

from pipelines.contracts.fields import contract
from pipelines.models import Checkpoint, CheckpointChild


class DocumentReceived(Checkpoint):
    """A document accepted for indexing."""

    contract = contract("DocumentReceived", 1, (1, "docId", "uuid"), (2, "text", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    text = models.TextField()

    class Meta(Checkpoint.Meta):
        verbose_name = "document received"
        verbose_name_plural = "documents received"


class DocumentTag(CheckpointChild):
    """A tag owned by a received document."""

    document = models.ForeignKey(DocumentReceived, on_delete=models.PROTECT)
    tag = models.CharField(max_length=50)

    def __str__(self) -> str:
        return f"tag {self.tag}"


class DocumentRefused(Checkpoint):
    """A decision outcome: the document is empty."""

    contract = contract("DocumentRefused", 1, (1, "docId", "uuid"), (2, "reason", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    reason = models.CharField(max_length=50)

    class Meta(Checkpoint.Meta):
        verbose_name = "document refused"
        verbose_name_plural = "documents refused"


class TokenIndexed(Checkpoint):
    """One token of a document (split 1→N)."""

    contract = contract("TokenIndexed", 1, (1, "docId", "uuid"), (2, "token", "string"), (3, "position", "int"))
    business_key_fields = ("doc_id", "token")
    doc_id = models.UUIDField()
    token = models.CharField(max_length=100)
    position = models.PositiveIntegerField()

    class Meta(Checkpoint.Meta):
        verbose_name = "token indexed"
        verbose_name_plural = "tokens indexed"


class DocumentIndexed(Checkpoint):
    """The merge of a document's tokens (N→1)."""

    contract = contract("DocumentIndexed", 1, (1, "docId", "uuid"), (2, "digest", "string"), (3, "tokens", "int"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    digest = models.TextField()
    tokens = models.PositiveIntegerField()

    class Meta(Checkpoint.Meta):
        verbose_name = "document indexed"
        verbose_name_plural = "documents indexed"


class DocumentPublished(Checkpoint):
    """The downstream pipeline's output."""

    contract = contract("DocumentPublished", 1, (1, "docId", "uuid"), (2, "digest", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    digest = models.TextField()

    class Meta(Checkpoint.Meta):
        verbose_name = "document published"
        verbose_name_plural = "documents published"


class DocumentStats(Checkpoint):
    """An optional aux branch of a publication: the published document's word count (analytics; may fail alone)."""

    contract = contract("DocumentStats", 1, (1, "docId", "uuid"), (2, "words", "int"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    words = models.PositiveIntegerField()

    class Meta(Checkpoint.Meta):
        verbose_name = "document stats"
        verbose_name_plural = "documents stats"


class DocumentAudit(Checkpoint):
    """A required aux branch of a publication: the audit line written with it, or not at all."""

    contract = contract("DocumentAudit", 1, (1, "docId", "uuid"), (2, "digest", "string"))
    business_key_fields = ("doc_id",)
    doc_id = models.UUIDField()
    digest = models.TextField()

    class Meta(Checkpoint.Meta):
        verbose_name = "document audit"
        verbose_name_plural = "documents audited"

"""Every model is a checkpoint, a ledger or mutable, and the system checks say so."""

import pytest
from django.apps import apps
from django.core import checks
from django.db import connection, models

from pipelines import checks as pipeline_checks
from pipelines.models import Checkpoint, InsertOnlyModel, business_key_columns
from pipelines.store.classification import classify


def test_every_model_is_classified():
    kinds = {m._meta.label: classify(m) for m in apps.get_models()}
    assert [label for label, kind in kinds.items() if kind is None] == []
    assert kinds["pipelines.LineageLink"] == "ledger"
    assert kinds["lane.TokenIndexed"] == "checkpoint"
    assert kinds["auth.User"] == "mutable"


def test_every_insert_only_model_is_a_checkpoint_or_ledger_and_every_other_is_mutable():
    for model in apps.get_models():
        expected = {"checkpoint", "ledger"} if issubclass(model, InsertOnlyModel) else {"mutable"}
        assert classify(model) in expected, model._meta.label


def test_the_shipped_models_pass_the_model_checks():
    assert pipeline_checks.check_classification() == []


def test_an_unclassified_model_is_reported_with_a_hint():
    class Loose(models.Model):
        class Meta:
            app_label = "lane"

    try:
        problems = [p for p in pipeline_checks.check_classification() if p.obj is Loose]
    finally:
        apps.all_models["lane"].pop("loose")
        apps.clear_cache()
    assert [(p.id, p.msg) for p in problems] == [
        ("pipelines.E001", "lane.Loose is not classified as checkpoint, ledger or mutable")
    ]
    assert problems[0].hint


def test_a_foreign_key_into_a_checkpoint_must_protect():
    class Careless(Checkpoint):
        contract = None
        business_key_fields = ("parent",)
        parent = models.ForeignKey("lane.DocumentReceived", on_delete=models.CASCADE)

        class Meta(Checkpoint.Meta):
            app_label = "lane"

    try:
        problems = [p.id for p in pipeline_checks.check_classification() if p.obj is Careless]
    finally:
        apps.all_models["lane"].pop("careless")
        apps.clear_cache()
    assert problems == ["pipelines.E004"]


@pytest.mark.django_db
def test_the_database_check_finds_every_trigger():
    assert pipeline_checks.check_triggers(databases=["default"]) == []
    assert checks.run_checks(databases=["default"], include_deployment_checks=False) == []
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        ([models.UniqueConstraint(fields=["business_key"], name="keyed_bk")], ("business_key",)),
        ([models.UniqueConstraint(fields=["doc_id"], name="keyed_bk")], ("doc_id",)),
        ([models.UniqueConstraint(fields=["doc_id"], name="keyed_bk", condition=models.Q(doc_id="x"))], ()),
        ([models.UniqueConstraint(fields=["doc_id", "business_key"], name="keyed_bk")], ()),
        ([], ()),
    ],
)
def test_a_checkpoint_must_enforce_its_business_key_on_the_text_column_or_on_its_fields(constraints, expected):
    class Keyed(Checkpoint):
        contract = None
        business_key_fields = ("doc_id",)
        doc_id = models.CharField(max_length=20)

        class Meta:
            app_label = "lane"

    Keyed._meta.constraints = constraints
    try:
        columns = business_key_columns(Keyed)
        problems = [(p.id, p.msg) for p in pipeline_checks.check_classification() if p.obj is Keyed]
    finally:
        apps.all_models["lane"].pop("keyed")
        apps.clear_cache()
    assert columns == expected
    assert problems == (
        [] if expected else [("pipelines.E007", "lane.Keyed: no unique constraint enforces its business key")]
    )

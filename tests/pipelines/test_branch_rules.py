"""The branch-policy rules of ``check_contracts`` one by one, and the lock recording each hand-off's policy."""

from __future__ import annotations

import dataclasses

from checkout.composition import COMPOSITION as FTGO
from pipelines.contracts import lock as contract_lock
from pipelines.contracts.checks import check_composition
from pipelines.contracts.declarations import Branch, Composition, Step, aux, outcome, primary
from tests.lane import branches
from tests.lane import composition as lane
from tests.lane.models import DocumentAudit, DocumentPublished, DocumentRefused, DocumentStats, TokenIndexed

AUDITED = branches.AUDITED


def publishing(*declared: Branch, terminal: frozenset[str] = lane.COMPOSITION.terminal) -> Composition:
    step = Step("publish", lane.publish, DocumentPublished, branches=declared)
    publish = dataclasses.replace(lane.PUBLISH, steps=(step,))
    return dataclasses.replace(lane.COMPOSITION, pipelines=(lane.INGEST, publish, lane.MANUAL), terminal=terminal)


def found(composition: Composition) -> list[tuple[str, str]]:
    return [(p.id, p.message) for p in check_composition(composition)]


PUBLISHED = primary("published", DocumentPublished)


def test_the_lanes_with_aux_branches_have_no_problems():
    assert check_composition(branches.COMPOSITION) == []
    assert check_composition(branches.COUNTED) == []


def test_a_primary_that_is_not_the_steps_model_is_an_error():
    assert found(publishing(primary("published", DocumentStats))) == [
        (
            "pipelines.E036",
            "the primary branch 'published' of step publish/publish writes DocumentStats, not the step's model "
            "(expected=DocumentPublished actual=DocumentStats)",
        )
    ]


def test_an_optional_primary_is_an_error():
    assert [p for p, _ in found(publishing(Branch("published", DocumentPublished, "primary", "optional")))] == [
        "pipelines.E036"
    ]


def test_a_step_with_only_aux_branches_has_no_primary():
    audited = aux("audit", DocumentAudit, branches.audit, publication=AUDITED)
    assert found(publishing(audited, terminal=lane.COMPOSITION.terminal | {AUDITED.name}))[0] == (
        "pipelines.E036",
        "step publish/publish declares 0 primary branches (expected=1 actual=0: none)",
    )


def test_a_required_branch_whose_publication_nothing_takes_is_an_error():
    audited = aux("audit", DocumentAudit, branches.audit, publication=AUDITED)
    assert found(publishing(PUBLISHED, audited)) == [
        (
            "pipelines.E038",
            "required branch 'audit' of step publish/publish is consumed by nothing: its publication "
            "'lane.audited.v1', and no subscription, terminal publication or unhappy-path or remediation pipeline "
            "takes it",
        )
    ]


def test_a_decision_outcome_nothing_takes_is_a_required_branch_error_not_a_dead_end():
    broken = dataclasses.replace(lane.COMPOSITION, terminal=frozenset({"lane.published.v1"}))

    assert [p for p, _ in found(broken)] == ["pipelines.E038"]
    assert "required branch 'DocumentRefused' of step ingest/receive" in found(broken)[0][1]


def test_an_outcome_without_a_publication_and_an_aux_built_beside_a_split_are_errors():
    refused = Branch("refused", DocumentRefused)  # aux, required, no build: an outcome, but handed off nowhere
    assert found(publishing(PUBLISHED, refused)) == [
        (
            "pipelines.E040",
            "decision outcome 'refused' of step publish/publish declares no publication (expected=a Publication "
            "actual=none)",
        )
    ]
    tokenize = dataclasses.replace(
        lane.INGEST.steps[1],
        branches=(primary("tokens", TokenIndexed), aux("stats", DocumentStats, branches.stats, optional=True)),
    )
    ingest = dataclasses.replace(lane.INGEST, steps=(lane.INGEST.steps[0], tokenize, lane.INGEST.steps[2]))
    split = dataclasses.replace(lane.COMPOSITION, pipelines=(ingest, lane.PUBLISH, lane.MANUAL))
    assert [p for p, _ in found(split)] == ["pipelines.E040", "pipelines.W039"]
    assert "is built beside a split step's output (expected=a step of shape one actual=split)" in found(split)[0][1]


def test_two_aux_branches_of_one_pipeline_may_not_share_a_name():
    stats = aux("stats", DocumentStats, branches.stats, optional=True, publication=branches.STATS)
    first = Step("publish", lane.publish, DocumentPublished, branches=(PUBLISHED, stats))
    second = Step("audit", branches.audit, DocumentAudit, branches=(primary("audited", DocumentAudit), stats))
    publish = dataclasses.replace(lane.PUBLISH, steps=(first, second), output=AUDITED)
    terminal = frozenset({"lane.refused.v1", AUDITED.name, branches.STATS.name})
    composition = dataclasses.replace(lane.COMPOSITION, pipelines=(lane.INGEST, publish), terminal=terminal)

    # and one publication twice (E012); audit is not built for what reaches it (E046: lane.publish may SKIP, and
    # stats reads DocumentPublished beside DocumentAudit)
    assert [p for p, _ in found(composition)] == [
        "pipelines.E012",
        "pipelines.E046",
        "pipelines.E046",
        "pipelines.E040",
    ]
    assert found(composition)[3] == (
        "pipelines.E040",
        "aux branch name 'stats' is declared 2 times in pipeline 'publish' (expected=1 actual=2)",
    )


def test_the_ftgo_chain_declares_its_decision_outcomes_and_kitchen_split():
    declared = {
        f"{p.name}/{s.name}": [(b.name, b.role) for b in s.branches]
        for p in FTGO.pipelines
        for s in p.steps
        if s.branches
    }

    assert declared["consumer-validation/consumer_verified"] == [("verified", "primary"), ("rejected", "aux")]
    assert declared["restaurant-acceptance/order_accepted_by_restaurant"] == [
        ("accepted", "primary"),
        ("rejected", "aux"),
        ("timed-out", "aux"),
    ]
    assert declared["kitchen-preparation/kitchen_task"] == [("tasks", "primary")]
    every_decision = {f"{p.name}/{s.name}" for p in FTGO.pipelines for s in p.steps if s.outcomes}
    assert every_decision <= set(declared)
    assert all(sum(b.role == "primary" for b in s.policy) == 1 for p in FTGO.pipelines for s in p.steps)
    assert not any(s.side_outputs for p in FTGO.pipelines for s in p.steps)  # no aux written beside a primary


def test_the_lock_records_each_hand_offs_policy_and_a_change_of_it_is_drift():
    lock = contract_lock.updated(branches.COMPOSITION, None).lock
    assert lock["lane.audited.v1"]["branch"] == {"role": "aux", "need": "required"}
    assert lock["lane.stats.v1"]["branch"] == {"role": "aux", "need": "optional"}
    assert lock["lane.published.v1"]["branch"] == {"role": "primary", "need": "required"}

    optional = aux("audit", DocumentAudit, branches.audit, optional=True, publication=AUDITED)
    stats = branches.PUBLISH_STEP.branches[2]
    changed = publishing(PUBLISHED, optional, stats, terminal=branches.COMPOSITION.terminal)

    assert [(p.id, p.message) for p in contract_lock.check_lock(changed, lock)] == [
        (
            "pipelines.W034",
            "contracts lock out of date for publication 'lane.audited.v1' (producer publish/publish):\n"
            "  + branch policy changed (expected=aux/required actual=aux/optional)",
        )
    ]
    assert contract_lock.updated(changed, lock).lock["lane.audited.v1"]["branch"]["need"] == "optional"


def test_a_domain_declares_branches_through_the_public_face_only():
    import pipelines

    for name in ("Branch", "BranchRole", "BranchNeed", "aux", "outcome", "primary"):
        assert name in pipelines.__all__
    assert (pipelines.aux, pipelines.primary, pipelines.outcome) == (aux, primary, outcome)
    source = open(branches.__file__).read()
    assert "from pipelines import (" in source and "pipelines.contracts" not in source

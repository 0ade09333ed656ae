"""``check_contracts`` fails every broken handoff and every drift from the lock, with the exact diagnostic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from pipelines.contracts import checks as contract_checks
from pipelines.contracts import lock as contract_lock

FIXTURES = "tests.contracts_fixtures.compositions"
LANE = "tests.lane.composition.COMPOSITION"


@dataclass
class Run:
    code: int
    out: str
    err: str


def check_contracts(settings, composition: str, *args: str) -> Run:  # type: ignore[no-untyped-def]
    settings.TPFGO_COMPOSITION = composition if "." in composition else f"{FIXTURES}.{composition}"
    out, err = StringIO(), StringIO()
    try:
        call_command("check_contracts", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Run(exc.returncode, out.getvalue(), err.getvalue() + f"\n{exc}")
    return Run(0, out.getvalue(), err.getvalue())


def ids(run: Run) -> list[str]:
    return [line.split(" ", 1)[0] for line in run.err.splitlines() if line.startswith("pipelines.")]


@pytest.fixture
def lock_file(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.TPFGO_CONTRACTS_LOCK = tmp_path / "contracts.lock.json"
    return settings.TPFGO_CONTRACTS_LOCK


@pytest.fixture
def lane_lock(lock_file: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """The lock as committed for the sound lane."""
    assert check_contracts(settings, LANE, "--update-lock").code == 0
    return lock_file


def test_the_lane_passes_with_zero_problems(settings, lane_lock):
    run = check_contracts(settings, LANE)

    assert (run.code, run.err) == (0, "")
    assert run.out == f"contracts OK: 4 publications, 1 subscriptions, lock {lane_lock}\n"


def test_a_declared_mapper_of_exactly_the_handoff_pair_passes(settings, lane_lock):
    assert check_contracts(settings, "MAPPED").code == 0


def test_a_deadline_that_resumes_the_pipeline_it_waits_in_passes(settings, lane_lock):
    assert check_contracts(settings, "DEADLINE_TO_ITSELF").code == 0


HANDOFF = "producer ingest/index outputs DocumentIndexed, consumer publish/publish expects"
MAPPER = (
    "the mapper DocumentIndexed -> DocumentReceived of the subscription of publish to 'lane.indexed.v1' cannot apply:"
)
BROKEN = [
    (
        "TYPE_MISMATCH",
        "pipelines.E014",
        f"handoff type mismatch for publication 'lane.indexed.v1': {HANDOFF} DocumentReceived "
        "(expected=DocumentReceived actual=DocumentIndexed)",
    ),
    (
        "FIELD_NAME_MISMATCH",
        "pipelines.E016",
        f"handoff fields mismatch for publication 'lane.indexed.v1': {HANDOFF} DocumentIndexed "
        "(expected=[docId, summary, tokens] actual=[docId, digest, tokens]; missing: summary; unexpected: digest)",
    ),
    (
        "FIELD_TYPE_MISMATCH",
        "pipelines.E018",
        f"handoff field type mismatch for publication 'lane.indexed.v1' field 'tokens': {HANDOFF} DocumentIndexed "
        "(expected=string actual=int)",
    ),
    (
        "FIELD_NUMBER_MISMATCH",
        "pipelines.E017",
        f"handoff field number mismatch for publication 'lane.indexed.v1' field 'digest': {HANDOFF} DocumentIndexed "
        "(expected=4 actual=2)",
    ),
    (
        "MISSING_PRODUCER",
        "pipelines.E011",
        "subscription of consumer publish/publish to publication 'lane.indexed.v2' has no producer in the "
        "composition (expected=1 producer actual=0); did you mean 'lane.indexed.v1'?",
    ),
    (
        "DUPLICATE_PRODUCER",
        "pipelines.E012",
        "publication 'lane.indexed.v1' has 2 producers: ingest/index, reindex/reindex (expected=1 actual=2)",
    ),
    (
        "MAPPER_MISMATCH",
        "pipelines.E015",
        f"mapper pair mismatch for publication 'lane.indexed.v1': {HANDOFF} DocumentReceived, but the mapper maps "
        "DocumentReceived -> DocumentPublished (expected=DocumentIndexed->DocumentReceived "
        "actual=DocumentReceived->DocumentPublished)",
    ),
    (
        "MAPPED_FIELDS_MISMATCH",
        "pipelines.E016",
        "handoff fields mismatch for publication 'lane.indexed.v1': producer ingest/index outputs DocumentIndexed, "
        "mapper DocumentIndexed->DocumentReceived reads DocumentIndexed (expected=[docId, summary, tokens] "
        "actual=[docId, digest, tokens]; missing: summary; unexpected: digest)",
    ),
    (
        "MISSING_KEY_FIELD",
        "pipelines.E021",
        "key field 'documentId' of publication 'lane.indexed.v1' (producer ingest/index) is not a field of contract "
        "DocumentIndexed (expected=one of [docId, digest, tokens] actual='documentId')",
    ),
    (
        "DEAD_END",
        "pipelines.W010",
        "dead-end checkpoint DocumentPublished: published as 'lane.published.v1' by publish/publish, "
        "'lane.manually-published.v1' by manual-publish/manual_publish; it is not terminal, no pipeline subscribes "
        "to it, and no unhappy-path or remediation pipeline takes DocumentPublished as input",
    ),
    (
        "AWAIT_WITHOUT_DEADLINE",
        "pipelines.E029",
        "step publish/publish awaits an external event but declares no deadline (expected=a Deadline actual=none)",
    ),
    (
        "TWO_PRIMARIES",
        "pipelines.E036",
        "step publish/publish declares 2 primary branches (expected=1 actual=2: published, again)",
    ),
    (
        "UNDECLARED_BRANCH",
        "pipelines.E037",
        "subscription to 'publish+stats' names aux branch 'stats' of step publish/publish, which declares no "
        "publication (expected=a declared publication actual=none)",
    ),
    (
        "REQUIRED_UNCONSUMED",
        "pipelines.E038",
        "required branch 'audit' of step publish/publish is consumed by nothing: it declares no publication, and no "
        "subscription, terminal publication or unhappy-path or remediation pipeline takes it",
    ),
    (
        "OPTIONAL_UNCONSUMED",
        "pipelines.W039",
        "optional aux branch 'stats' of step publish/publish is consumed by nothing: it declares no publication, and "
        "no subscription or terminal publication takes it",
    ),
    (
        "INPUT_MISMATCH",
        "pipelines.E046",
        "step publish/publish reads DocumentIndexed, but DocumentAudit reaches it: the step before it, publish/audit, "
        "writes it (expected=DocumentIndexed actual=DocumentAudit)",
    ),
    (
        "DEADLINE_UNKNOWN_PIPELINE",
        "pipelines.E025",
        "the deadline of step publish/publish runs pipeline 'manual-publsh', which is not in the composition "
        "(expected=one of [ingest, publish, manual-publish] actual='manual-publsh')",
    ),
    (
        "DEADLINE_INPUT_MISMATCH",
        "pipelines.E048",
        "the deadline of step publish/publish runs pipeline 'manual-publish' on the step's input, but manual-publish "
        "takes DocumentReceived as its input, none of what the step waits on: DocumentIndexed "
        "(expected=DocumentReceived actual=DocumentIndexed)",
    ),
    (
        "DEADLINE_INPUT_PARTLY_TAKEN",
        "pipelines.E048",
        "the deadline of step publish/publish runs pipeline 'manual-publish' on the step's input, but manual-publish "
        "takes DocumentReceived as its input, not all of what the step waits on (awaits=True): DocumentIndexed "
        "(expected=DocumentReceived actual=DocumentIndexed)",
    ),
    (
        "MAPPER_WITHOUT_FUNCTION",
        "pipelines.E047",
        f"{MAPPER} its fields is not a function (expected=a callable actual=NoneType)",
    ),
    (
        "MAPPER_READS_ANOTHER_MODEL",
        "pipelines.E047",
        f"{MAPPER} its fields function reads DocumentPublished, not the source "
        "(expected=DocumentIndexed actual=DocumentPublished)",
    ),
    (
        "MAPPER_OF_A_TAKEN_TYPE",
        "pipelines.E047",
        f"{MAPPER} the consumer also takes DocumentIndexed as it is, so a DocumentIndexed handed to it may be meant "
        "mapped or not (expected=DocumentIndexed not among the consumer's inputs "
        "actual=[DocumentReceived, DocumentIndexed])",
    ),
    (
        "MAPPED_TWICE",
        "pipelines.E047",
        f"{MAPPER} another subscription of publish maps DocumentIndexed as well, with another mapper (to "
        "DocumentReceived) (expected=one mapper of DocumentIndexed per consumer actual=2)",
    ),
    (
        "MAPPED_KEY_TO_TARGET",
        "pipelines.E049",
        "step publish/publish reads DocumentReceived mapped from DocumentIndexed (the subscription to "
        "'lane.indexed.v1'), and PublishedOfReceived.received is a foreign key to DocumentReceived: the mapped input "
        "is not stored and has the DocumentIndexed's id (expected=no foreign key to DocumentReceived "
        "actual=PublishedOfReceived.received)",
    ),
    (
        "MAPPED_CHILD_KEY_TO_TARGET",
        "pipelines.E049",
        "step publish/publish reads DocumentReceived mapped from DocumentIndexed (the subscription to "
        "'lane.indexed.v1'), and NoteOfReceived.received, a child row of PublishedWithNotes, is a foreign key to "
        "DocumentReceived: the mapped input is not stored and has the DocumentIndexed's id (expected=no foreign key "
        "to DocumentReceived actual=NoteOfReceived.received)",
    ),
    (
        "BRANCH_NOT_LAST_IN_KEY",
        "pipelines.E050",
        "checkpoint model PublishedOnForks (written by publish/publish) is written on forks in its column 'branch', "
        "but its business_key_fields do not end with it (expected=('doc_id', 'branch') actual=('branch', 'doc_id'))",
    ),
]


@pytest.mark.parametrize(("fixture", "problem", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_composition_fails_with_the_exact_diagnostic(settings, lane_lock, fixture, problem, message):
    run = check_contracts(settings, fixture)

    assert run.code == 1
    assert ids(run) == [problem]
    severity = "warning" if ".W" in problem else "error"
    assert f"{problem} ({severity}) {message}\n    HINT: " in run.err
    summary = "0 errors, 1 warning" if severity == "warning" else "1 error, 0 warnings"
    assert run.err.rstrip().endswith(f"contract checks failed: {summary}")


def test_every_problem_is_printed_at_once_errors_first(settings, lock_file):
    run = check_contracts(settings, "TYPE_MISMATCH")

    assert (run.code, ids(run)) == (1, ["pipelines.E014", "pipelines.W030"])
    assert run.err.startswith(contract_checks.report(contract_checks.problems_in_force()))
    assert run.err.rstrip().endswith("contract checks failed: 1 error, 1 warning")


# -- the lock ------------------------------------------------------------------------------------------------
def test_a_missing_lock_is_reported_and_update_lock_creates_it(settings, lock_file):
    run = check_contracts(settings, LANE)

    assert run.code == 1
    assert ids(run) == ["pipelines.W030"]
    assert f"contracts lock {lock_file} does not exist: no publication's contract is recorded yet" in run.err

    updated = check_contracts(settings, LANE, "--update-lock")
    assert updated.code == 0
    assert "recorded 'lane.indexed.v1' (DocumentIndexed v1)" in updated.out
    assert sorted(json.loads(lock_file.read_text())) == [
        "lane.indexed.v1",
        "lane.manually-published.v1",
        "lane.published.v1",
        "lane.refused.v1",
    ]


def test_the_lock_records_fields_with_numbers_types_and_a_checksum(lane_lock):
    entry = json.loads(lane_lock.read_text())["lane.indexed.v1"]

    assert entry["contract"] == "DocumentIndexed" and entry["version"] == 1
    assert entry["fields"] == [
        {"number": 1, "name": "docId", "type": "uuid", "required": True},
        {"number": 2, "name": "digest", "type": "string", "required": True},
        {"number": 3, "name": "tokens", "type": "int", "required": True},
    ]
    assert entry["sha256"] == contract_lock.checksum("lane.indexed.v1", entry)


def test_a_breaking_change_without_a_version_bump_fails_and_is_never_recorded(settings, lane_lock):
    before = lane_lock.read_bytes()
    expected = (
        "pipelines.E033 (error) breaking change to publication 'lane.indexed.v1' (contract DocumentIndexed, "
        "producer ingest/index) under the same version v1:\n  - field 'tokens' (#3 int) removed\n"
        "    HINT: Revert the change, or publish it as a new version: set the contract's version to 2, rename the "
        "publication to 'lane.indexed.v2' (and its subscriptions), then run 'manage.py check_contracts --update-lock'."
    )

    run = check_contracts(settings, "BREAKING_WITHOUT_BUMP")
    assert (run.code, ids(run)) == (1, ["pipelines.E033"])
    assert expected in run.err

    refused = check_contracts(settings, "BREAKING_WITHOUT_BUMP", "--update-lock")
    assert refused.code == 1
    assert expected in refused.err
    assert "contracts lock not updated: 1 error, 0 warnings" in refused.err
    assert lane_lock.read_bytes() == before


def test_the_same_breaking_change_under_a_new_version_is_recorded(settings, lane_lock):
    run = check_contracts(settings, "BREAKING_WITH_BUMP")
    assert (run.code, ids(run)) == (1, ["pipelines.W034", "pipelines.W034"])
    assert (
        "contracts lock out of date: publication 'lane.indexed.v2' (contract DocumentIndexed v2, producer "
        "ingest/index) is not in the lock (a new version of 'lane.indexed.v1')"
    ) in run.err

    updated = check_contracts(settings, "BREAKING_WITH_BUMP", "--update-lock")
    assert updated.code == 0
    assert "  dropped 'lane.indexed.v1' (no longer produced)\n  recorded 'lane.indexed.v2' (DocumentIndexed v2)\n" in (
        updated.out
    )
    lock = json.loads(lane_lock.read_text())
    assert "lane.indexed.v1" not in lock
    assert [f["name"] for f in lock["lane.indexed.v2"]["fields"]] == ["docId", "digest"]


def test_an_additive_change_fails_as_lock_out_of_date_until_the_lock_is_updated(settings, lane_lock):
    run = check_contracts(settings, "ADDITIVE")
    assert (run.code, ids(run)) == (1, ["pipelines.W034"])
    assert (
        "pipelines.W034 (warning) contracts lock out of date for publication 'lane.indexed.v1' (producer "
        "ingest/index):\n  + field 'language' (#4 string, optional) added\n    HINT: Run 'manage.py check_contracts "
        "--update-lock' and commit contracts.lock.json."
    ) in run.err

    updated = check_contracts(settings, "ADDITIVE", "--update-lock")
    assert updated.code == 0
    assert "updated 'lane.indexed.v1': field 'language' (#4 string, optional) added" in updated.out
    assert check_contracts(settings, "ADDITIVE").code == 0


def test_a_lock_entry_edited_by_hand_is_detected_and_blocks_the_update(settings, lane_lock):
    lock = json.loads(lane_lock.read_text())
    recorded = lock["lane.indexed.v1"]["sha256"]
    lock["lane.indexed.v1"]["fields"] = lock["lane.indexed.v1"]["fields"][:2]  # "accept" removing tokens by hand
    lane_lock.write_text(json.dumps(lock))
    computed = contract_lock.checksum("lane.indexed.v1", lock["lane.indexed.v1"])
    expected = (
        "pipelines.E032 (error) contracts lock entry for publication 'lane.indexed.v1' was edited by hand: its "
        f"sha256 does not match its content (expected={computed} actual={recorded})"
    )

    run = check_contracts(settings, "BREAKING_WITHOUT_BUMP")
    assert (run.code, ids(run)) == (1, ["pipelines.E032"])
    assert expected in run.err

    refused = check_contracts(settings, "BREAKING_WITHOUT_BUMP", "--update-lock")
    assert refused.code == 1 and expected in refused.err
    assert json.loads(lane_lock.read_text()) == lock


def test_an_unreadable_lock_is_an_error_and_is_not_overwritten(settings, lock_file):
    lock_file.write_text("{not json")

    run = check_contracts(settings, LANE)
    assert (run.code, ids(run)) == (1, ["pipelines.E031"])
    assert f"contracts lock {lock_file} is unreadable: not valid JSON" in run.err
    assert check_contracts(settings, LANE, "--update-lock").code == 1
    assert lock_file.read_text() == "{not json"


def test_update_lock_on_an_unchanged_composition_writes_nothing(settings, lane_lock):
    before = lane_lock.stat().st_mtime_ns

    run = check_contracts(settings, LANE, "--update-lock")

    assert run.code == 0
    assert run.out.startswith(f"contracts lock {lane_lock} is up to date\n")
    assert lane_lock.stat().st_mtime_ns == before


# -- where the checks run ----------------------------------------------------------------------------------------
def test_manage_py_check_runs_the_contract_checks_with_their_ids(settings, lane_lock):
    settings.TPFGO_COMPOSITION = f"{FIXTURES}.TYPE_MISMATCH"

    messages = checks.run_checks(tags=["contracts"])
    assert [(m.id, m.level) for m in messages] == [("pipelines.E014", checks.ERROR)]
    assert messages[0].hint.startswith("Subscribe the consumer to a publication of the type it takes")
    with pytest.raises(SystemCheckError, match=r"pipelines\.E014"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_manage_py_check_refuses_a_mapped_first_step_with_a_foreign_key_to_the_target(settings, lane_lock):
    settings.TPFGO_COMPOSITION = f"{FIXTURES}.MAPPED_KEY_TO_TARGET"

    messages = checks.run_checks(tags=["contracts"])
    assert [(m.id, m.level) for m in messages] == [("pipelines.E049", checks.ERROR)]
    assert messages[0].hint.startswith("A mapped step's ctx.input is the target made from the source")
    with pytest.raises(SystemCheckError, match=r"pipelines\.E049"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_a_dead_end_is_a_warning_that_fail_level_warning_turns_into_a_failure(settings, lane_lock):
    settings.TPFGO_COMPOSITION = f"{FIXTURES}.DEAD_END"

    call_command("check", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(SystemCheckError, match=r"pipelines\.W010"):
        call_command("check", fail_level="WARNING", stdout=StringIO(), stderr=StringIO())


def test_the_shipped_composition_passes_against_the_committed_lock(settings):
    settings.TPFGO_COMPOSITION = "tpfgo_site.composition.COMPOSITION"  # checkout and the search lane
    settings.TPFGO_CONTRACTS_LOCK = Path(settings.BASE_DIR) / "contracts.lock.json"

    assert contract_checks.problems_in_force() == []


@pytest.mark.parametrize(
    "name", ["TPFGO_ATOMICITY", "TPFGO_DURABILITY", "TPFGO_OVERFLOW_POLICY", "TPFGO_DELAYED_DELIVERY"]
)
def test_an_engine_setting_outside_its_choices_fails_the_checks(settings, name):
    from pipelines.checks import check_settings

    assert check_settings() == []
    setattr(settings, name, "sometimes")

    [error] = check_settings()
    assert error.id == "pipelines.E006" and name in error.msg and "'sometimes'" in error.msg

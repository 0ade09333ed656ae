"""Bad arguments to the project's commands end in a CommandError that says what to give, never a traceback, and
store nothing (found by an adversarial pass, 2026-12-06)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import all_insert_only_counts

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("command", "arguments", "says"),
    [
        ("sweep", ["--window", "99999999999999999999"], "a duration from 1 second to 10 years"),
        ("sweep", ["--window", "2914000d"], "a duration from 1 second to 10 years"),
        ("sweep", ["--window", "", "--dry-run"], "--window '': a duration from 1 second to 10 years"),
        ("sweep", ["--limit", "99999999999999999999"], "--limit must be from 1 to 1000000"),
        ("purge", ["--batch", "99999999999999999999", "--dry-run"], "--batch must be from 1 to 1000000"),
        ("purge", ["--actor", "x" * 201, "--dry-run"], "--actor must be 1 to 200 characters"),
        ("purge", ["--actor", "alice\x1b[2J", "--dry-run"], "without control characters"),
        ("purge", ["--actor", " ", "--dry-run"], "not blank"),
        ("partitions", ["--months", "99999999999"], "--months must be from 0 to 120"),
        ("partitions", ["--database", "nope"], "no such database"),
        ("setup_db_roles", ["--database", "nope"], "--database 'nope': no such database"),
        ("resume", ["--id", "notauuid", "--reason", "x"], "a pause's id is a UUID"),
        ("pause", ["dispatch.delivery_assigned", "--key", "restaurant=" + "x" * 300, "--reason", "x"], "at most 200"),
        ("pause", ["dispatch.delivery_assigned", "--key", "restaurant=a\x01", "--reason", "x"], "no control"),
        ("pause", ["dispatch.delivery_assigned", "--reason", "x", "--actor", "a\x01"], "(--actor: must not contain"),
        ("pause", ["payment-capture.nostep", "--reason", "x"], "pipeline 'payment-capture' has no step 'nostep' ("),
        ("pause", ["nowhere.step", "--reason", "x"], "no pipeline named 'nowhere' ("),
        ("pause", ["dispatch.delivery_assigned", "--reason", "x", "--actor", "x" * 151], "(--actor: at most 150 char"),
        ("erase_consumer", ["alice", "--reason", "x", "--actor", "\x01"], "(--actor: must not contain"),
        (
            "remediate",
            ["redrive", "--state", "dead_letter", "--limit", "-1", "--since", "x", "--preview"],
            "(--since: an ISO date or date-time; --limit: a whole number of orders, at least 1)",
        ),
        ("remediate", ["redrive", "--state", "dead_letter", "--limit", "", "--preview"], "--limit is empty"),
        ("remediate", ["redrive", "--code", " ", "--preview"], "--code is empty"),
        ("remediate", ["redrive", "--error-class", "", "--preview"], "--error-class is empty"),
        ("remediate", ["redrive", "--run", "", "--state", "dead_letter", "--preview"], "--run is empty"),
        ("remediate", ["redrive", "--state", "dead_letter", "--approve", "--preview"], "redrive takes no --approve/"),
        ("remediate", ["ops-cancel", "x", "--courier", "c", "--reason", "r"], "ops-cancel takes no --courier"),
        ("remediate", ["fork", "x", "--checkpoint", "c", "--decline", "--preview"], "fork takes no --approve"),
        ("remediate", ["assign-courier", "x", "--new-effect-keys", "--preview"], "takes no --new-effect-keys"),
        ("create_token", ["ops", "--name", "x" * 300], "1 to 150 printable characters"),
        ("create_token", ["ops", "--name", "a\x01b"], "1 to 150 printable characters"),
        ("follow", ["p.v1", "--url", "notaurl", "--token", "t", "--subscriber", "s"], "an http:// or https://"),
        ("follow", ["p.v1", "--retry-seconds", "-1", "--token", "t", "--subscriber", "s"], "--retry-seconds must be"),
    ],
)
def test_a_bad_argument_is_a_command_error_and_stores_nothing(db, command, arguments, says):
    before = all_insert_only_counts()
    with pytest.raises(CommandError) as refused:
        call_command(command, *arguments)
    assert says in str(refused.value)
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(
    ("command", "arguments", "says"),
    [
        ("remediate", ["redrive", "a\nb"], "NOT_FOUND: order a\\nb not found"),
        ("erase_consumer", ["x\x1b[31mred", "--reason", "x"], "NOT_FOUND: consumer x\\x1b[31mred not found"),
    ],
)
def test_a_refusal_repeating_a_control_character_stays_one_line_and_escapes_it(db, command, arguments, says):
    with pytest.raises(CommandError) as refused:
        call_command(command, *arguments)
    assert str(refused.value) == says


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--ack-seconds", "nan"], "--ack-seconds must be above 0 and at most 3600"),
        (["--ack-seconds", "0"], "--ack-seconds must be above 0 and at most 3600"),
        (["--ack-every", "0"], "--ack-every must be at least 1"),
        (["--ack-every", "-5"], "--ack-every must be at least 1"),
        (["--max-items", "0"], "--max-items must be at least 1"),
        (["--url", "http://"], "--url 'http://': an http:// or https:// address"),
        (["--url", "http://127.0.0.1:notaport"], "an http:// or https:// address"),
        (["--url", "http://127.0.0.1:99999"], "an http:// or https:// address"),
    ],
)
def test_a_follower_refuses_a_pace_or_an_address_it_cannot_use_before_it_connects(monkeypatch, arguments, says):
    from pipelines.management.commands.follow import Follower

    def connect(*args, **kwargs):
        raise AssertionError("it connected")

    monkeypatch.setattr(Follower, "stream_once", connect)
    with pytest.raises(CommandError, match=re.escape(says)):
        call_command("follow", "p.v1", "--token", "t", "--subscriber", "s", *arguments)


@pytest.mark.parametrize("poll", ["-1", "0", "nan", "61"])
def test_a_beat_candidate_refuses_a_poll_it_cannot_sleep_before_it_starts_anything(monkeypatch, poll):
    def start(*args):
        raise AssertionError("it started beat")

    monkeypatch.setattr(os, "execv", start)  # off PostgreSQL it execs beat at once
    with pytest.raises(CommandError, match="--poll must be above 0 and at most 60 seconds"):
        call_command("beat_leader", "--poll", poll)


@pytest.mark.parametrize(
    "arguments", [["--lease", "1"], ["--lease", "nan"], ["--lease", "3601"], ["--poll", "5", "--lease", "9"]]
)
def test_a_beat_candidate_refuses_a_lease_its_live_leader_could_outlast_before_it_starts_anything(
    monkeypatch, arguments
):
    def start(*args):
        raise AssertionError("it started beat")

    monkeypatch.setattr(os, "execv", start)
    with pytest.raises(CommandError, match="--lease must be at least 2 polls and at most 3600 seconds"):
        call_command("beat_leader", *arguments)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["127.0.0.1:99999"], "address 127.0.0.1:99999: the port is from 0 to 65535"),
        (["127.0.0.1:-1"], "address 127.0.0.1:-1: the port is from 0 to 65535"),
        (["--max-workers", "0", "127.0.0.1:0"], "--max-workers must be from 1 to 1000"),
        (["--max-workers", "-1", "127.0.0.1:0"], "--max-workers must be from 1 to 1000"),
    ],
)
def test_the_grpc_server_refuses_a_port_or_worker_count_out_of_range_before_it_serves(db, monkeypatch, arguments, says):
    from tpfgo_site import grpc_server

    def serve(*args):
        raise AssertionError("it served")

    monkeypatch.setattr(grpc_server, "serve", serve)
    with pytest.raises(CommandError, match=re.escape(says)):
        call_command("grpcrunserver", *arguments)


def test_an_event_nested_past_pythons_stack_is_a_command_error(db, tmp_path):
    event = tmp_path / "event.json"
    event.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CommandError, match="nested too deep"):
        call_command("invoke_function", "--event", str(event))


def test_an_argument_that_is_not_utf_8_is_refused_before_any_command_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["TPFGO_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "revoke_token", b"\xff"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.decode() == "CommandError: an argument is not UTF-8 text: '\\udcff'\n"


@pytest.mark.parametrize("command", [["pause", "--list"], ["sweep", "--dry-run"], ["purge", "--dry-run"]])
def test_a_command_on_a_database_that_was_never_migrated_says_to_migrate(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(TPFGO_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/never-migrated.sqlite3")
    done = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    said = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # the JSON log lines aside
    assert said == [said[0]] and said[0].startswith(f"CommandError: manage.py {command[0]} refuses to start: ")
    assert "the database schema is behind this code" in said[0] and "Run 'manage.py migrate'" in said[0]


def test_a_follower_that_received_nothing_acknowledges_nothing():
    from pipelines.management.commands.follow import Follower

    follower = Follower("http://127.0.0.1:9", "t", "p.v1", "s", ack_every=1, ack_seconds=1.0)
    follower.ack()  # no request: port 9 would refuse it with an error
    follower.position = 5
    with pytest.raises(OSError):  # something received: it does acknowledge
        follower.ack()


@pytest.mark.parametrize(
    ("bind", "says"),
    [
        ("127.0.0.1", "is not host:port with a port from 0 to 65535"),
        ("127.0.0.1:99999", "is not host:port with a port from 0 to 65535"),
        ("127.0.0.1:http", "is not host:port with a port from 0 to 65535"),
        ("taken", "Address already in use"),
    ],
)
def test_the_grpc_server_refuses_a_metrics_address_it_cannot_listen_on_before_its_own_port(
    db, monkeypatch, settings, bind, says
):
    from tpfgo_site import grpc_server

    def build(*args):
        raise AssertionError("it listened on its gRPC port")

    monkeypatch.setattr(grpc_server, "build", build)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        settings.TPFGO_GRPC_METRICS_BIND = taken if bind == "taken" else bind
        with pytest.raises(CommandError, match=f"^TPFGO_GRPC_METRICS_BIND=.*{re.escape(says)}"):
            call_command("grpcrunserver", "127.0.0.1:0")

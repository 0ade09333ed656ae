"""`manage.py check --deploy` warns while the built-in development secret key is in use, while the ops user logs in
with the README's password, while the payment gateway is the simulator, while the error-sink token would travel
in clear to another host, while this node's clock is off the database's with later work waiting in the broker, and
while the gRPC server would serve in clear to the network; every check warns while the error sink's CA file cannot be
used; and while PostgreSQL's own server log would keep the values the project withholds."""

from __future__ import annotations

import datetime
import io

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from opsconsole.bootstrap import DEFAULT_OPS_PASSWORD, ensure_local_access
from tests.pipelines.test_error_sink_tls import self_signed
from tpfgo_site import checks as site_checks
from tpfgo_site.settings import DEVELOPMENT_SECRET_KEY

pytestmark = pytest.mark.django_db  # the ops user's password is read from the database


class ProviderGateway:
    """A gateway that is not the simulator (its methods are never called here)."""


def deploy_check_output(*flags: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", *flags or ("--deploy",), stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@override_settings(SECRET_KEY=DEVELOPMENT_SECRET_KEY)
def test_the_deploy_check_warns_about_the_development_secret_key():
    output = deploy_check_output()
    assert output.count("tpfgo_site.W001") == 1
    assert "Set DJANGO_SECRET_KEY" in output


@override_settings(SECRET_KEY="a-real-secret-" + "x" * 50)
def test_the_deploy_check_is_quiet_about_a_secret_key_of_ones_own():
    assert "tpfgo_site.W001" not in deploy_check_output()


def test_the_plain_check_does_not_run_the_deploy_check():
    out, err = io.StringIO(), io.StringIO()
    with override_settings(SECRET_KEY=DEVELOPMENT_SECRET_KEY):
        call_command("check", stdout=out, stderr=err)
    assert "tpfgo_site.W001" not in out.getvalue() + err.getvalue()


def test_the_deploy_check_warns_while_the_ops_user_logs_in_with_the_public_default_password():
    ensure_local_access(DEFAULT_OPS_PASSWORD)  # `make run` or `bin/node prepare` without TPFGO_OPS_PASSWORD
    output = deploy_check_output()
    assert output.count("tpfgo_site.W002") == 1
    assert "Set TPFGO_OPS_PASSWORD" in output
    ensure_local_access("a password of our own")
    assert get_user_model().objects.get(username="ops").check_password("a password of our own")
    assert "tpfgo_site.W002" not in deploy_check_output()


def test_the_deploy_check_warns_while_the_payment_gateway_is_the_simulator():
    with override_settings(TPFGO_PAYMENT_GATEWAY="checkout.payments.SimulatedGateway"):
        assert deploy_check_output().count("tpfgo_site.W003") == 1
    with override_settings(TPFGO_PAYMENT_GATEWAY="tests.test_deploy_checks.ProviderGateway"):
        assert "tpfgo_site.W003" not in deploy_check_output()


@pytest.mark.parametrize(
    ("url", "token", "warned"),
    [
        ("http://central.example", "key", True),
        ("grpc://central.example:50051", "key", True),
        ("https://central.example", "key", False),
        ("grpcs://central.example:50051", "key", False),
        ("http://127.0.0.1:8000", "key", False),
        ("grpc://localhost:50051", "key", False),
        ("http://central.example", "", False),
        ("", "", False),
    ],
)
def test_the_deploy_check_warns_while_the_error_sink_token_would_travel_in_clear_to_another_host(url, token, warned):
    with override_settings(TPFGO_ERROR_SINK_URL=url, TPFGO_ERROR_SINK_TOKEN=token):
        assert deploy_check_output().count("tpfgo_site.W004") == (1 if warned else 0)


@pytest.mark.parametrize(
    ("minutes", "delivery", "warned"),
    [(-15, "broker", True), (0.5, "broker", True), (0, "broker", False), (-15, "database", False)],
)
def test_the_deploy_check_warns_while_this_nodes_clock_is_off_and_later_work_waits_in_the_broker(
    minutes, delivery, warned
):
    """A worker holds a retry's message until its ETA by its own clock (``broker``): 15 minutes behind, it runs it
    15 minutes late. ``database`` delivery publishes it when due by the database's clock, whatever the worker's."""
    from pipelines.store import clock

    node = timezone.now() + datetime.timedelta(minutes=minutes)
    try:
        with override_settings(TPFGO_DELAYED_DELIVERY=delivery), time_machine.travel(node, tick=False):
            output = deploy_check_output()
    finally:
        clock.calibrate()
    assert output.count("pipelines.W046") == (1 if warned else 0)
    assert ("TPFGO_DELAYED_DELIVERY=database" in output) is warned


@pytest.mark.parametrize("kind", ["missing", "no certificate", "a folder", "readable", "unset"])
def test_every_check_warns_while_the_error_sinks_ca_file_cannot_be_used(kind, tmp_path):
    """Forwards over https:// or grpcs:// trust only that file: one they cannot read fails every forward."""
    (tmp_path / "notes.pem").write_text("not a certificate\n")
    path = {
        "missing": str(tmp_path / "gone.pem"),
        "no certificate": str(tmp_path / "notes.pem"),
        "a folder": str(tmp_path),
        "readable": str(self_signed(tmp_path, "central")[0]),
        "unset": "",
    }[kind]
    with override_settings(TPFGO_ERROR_SINK_CA_FILE=path):
        output = deploy_check_output("--tag", "security")  # not only --deploy: every command's checks
    warned = kind not in ("readable", "unset")
    assert output.count("tpfgo_site.W005") == (1 if warned else 0)
    assert ("TPFGO_ERROR_SINK_CA_FILE cannot be used" in output) is warned


@pytest.mark.parametrize(
    ("host", "tls", "warned"),
    [
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("10.1.2.3", False, True),
        ("grpc.internal.example", False, True),
        ("0.0.0.0", True, False),
        ("127.0.0.1", False, False),
        ("127.0.0.2", False, False),
        ("::1", False, False),
        ("localhost", False, False),
    ],
)
def test_the_deploy_check_warns_while_the_grpc_server_would_serve_in_clear_to_the_network(host, tls, warned):
    files = {"TPFGO_GRPC_TLS_CERT_FILE": "chain.pem", "TPFGO_GRPC_TLS_KEY_FILE": "key.pem"} if tls else {}
    with override_settings(BIND_HOST=host, GRPC_PORT="50051", **files):
        output = deploy_check_output()
    assert output.count("tpfgo_site.W006") == (1 if warned else 0)
    assert ("Set TPFGO_GRPC_TLS_CERT_FILE" in output) is warned


@pytest.mark.parametrize(
    ("address", "warned"),
    [
        ("0.0.0.0:50051", True),
        ("[::]:50051", True),
        (":50051", True),
        ("[::1]:50051", False),
        ("127.0.0.1:0", False),
        ("localhost:50051", False),
        ("unix:/run/tpfgo/grpc.sock", False),
    ],
)
def test_the_grpc_servers_own_address_in_clear_is_named_by_the_same_warning(address, warned):
    """What the server logs at start (``grpc.serving_in_clear``) for the address it was given."""
    assert [m.id for m in site_checks.grpc_in_clear(address)] == (["tpfgo_site.W006"] if warned else [])


QUIET = {
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
    "log_statement": "none",
    "log_min_duration_statement": "-1",
    "log_min_duration_sample": "-1",
    "log_transaction_sample_rate": "0",
}


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"log_error_verbosity": "default", "log_min_error_statement": "error"}, 2),  # PostgreSQL's defaults
        ({"log_error_verbosity": "verbose"}, 1),
        ({"log_min_error_statement": "fatal"}, 1),
        ({"log_statement": "mod"}, 1),
        ({"log_min_duration_statement": "0"}, 1),
        ({"log_transaction_sample_rate": "0.5"}, 1),
        ({"log_statement": "ddl"}, 0),
        ({}, 0),
    ],
)
def test_the_deploy_check_warns_while_postgresqls_own_log_would_keep_the_values_the_project_withholds(changed, named):
    """Read as the project's sessions see them: a session's SET here, as a database's or a role's ALTER … SET would
    give every session (the test's transaction undoes it)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps no server log")
    with connection.cursor() as cursor:
        for name, value in {**QUIET, **changed}.items():
            cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
    output = deploy_check_output()
    assert output.count("tpfgo_site.W007") == (1 if named else 0)
    warning = "".join(line for line in output.splitlines() if "tpfgo_site.W007" in line)  # without its hint
    assert [name for name in QUIET if f"{name} = " in warning] == (list(changed) if named else [])


def test_a_database_without_a_server_log_is_not_warned_about():
    if connection.vendor == "postgresql":
        pytest.skip("the test above covers PostgreSQL")
    assert "tpfgo_site.W007" not in deploy_check_output()

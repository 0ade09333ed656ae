"""``manage.py create_token`` / ``revoke_token`` and ``manage.py bootstrap``'s demo tokens."""

from __future__ import annotations

import importlib
import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from access.models import Principal
from access.scopes import KINDS
from checkout import demo


@pytest.fixture
def demo_data(db: Any) -> None:
    demo.load()


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored() -> tuple[int, int, int]:
    return get_user_model().objects.count(), Principal.objects.count(), Token.objects.count()


@pytest.mark.parametrize(
    ("kind", "binding", "name"),
    [
        ("ordering-client", "alice", "ordering-client-alice"),
        ("restaurant", "chez-manuel", "restaurant-chez-manuel"),
        ("courier", "courier-max", "courier-courier-max"),
        ("error-sink", "", "error-sink"),
        ("ops", "", "ops"),
        ("ftgo-gateway", "", "ftgo-gateway"),
        ("subscriber", "", "subscriber"),
        ("search-client", "", "search-client"),
    ],
)
def test_create_token_binds_a_principal_and_prints_its_key_once(demo_data, kind, binding, name):
    out, err = run("create_token", kind, *(["--for", binding] if binding else []))
    key = out.strip()
    token = Token.objects.select_related("user__principal").get()
    assert key == token.key and len(key) == 40
    principal = token.user.principal
    assert (token.user.username, principal.kind, principal.binding) == (name, kind, binding)
    assert principal.scopes == list(KINDS[kind].scopes)
    assert not token.user.has_usable_password()
    assert key not in err and "shown once" in err
    with pytest.raises(CommandError, match="already holds a token; revoke it first"):
        run("create_token", kind, *(["--for", binding] if binding else []))
    assert Token.objects.get().key == key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ordering-client"], "bound to one consumer"),
        (["ordering-client", "--for", "nobody"], "no consumer 'nobody'"),
        (["restaurant", "--for", "alice"], "no restaurant 'alice'"),
        (["ops", "--for", "alice"], "takes no binding"),
        (["courier", "--for", "courier-ann", "--name", "ops"], "logs in with a password"),
        (["ops", "--name", " "], "no space at either end, not ' '"),
        (["ops", "--name", "ops-automation "], "no space at either end"),
    ],
)
def test_create_token_refuses_a_wrong_binding_and_stores_nothing(demo_data, args, message):
    get_user_model().objects.create_user("ops", password="a-password")
    before = stored()
    with pytest.raises(CommandError, match=message):
        run("create_token", *args)
    assert stored() == before


def test_a_name_keeps_its_kind_and_binding(demo_data):
    run("create_token", "courier", "--for", "courier-ann", "--name", "ann-phone")
    run("revoke_token", "ann-phone")
    before = stored()
    with pytest.raises(CommandError, match="already a courier for courier courier-ann"):
        run("create_token", "courier", "--for", "courier-ben", "--name", "ann-phone")
    assert stored() == before


def test_revoke_token_deletes_the_token_and_keeps_the_principal(demo_data):
    first = run("create_token", "restaurant", "--for", "ajanta")[0].strip()
    assert run("revoke_token", "restaurant-ajanta")[0].strip() == "restaurant-ajanta: token revoked"
    assert (Token.objects.count(), Principal.objects.count()) == (0, 1)
    assert run("revoke_token", "restaurant-ajanta")[0].strip() == "restaurant-ajanta: held no token"
    second = run("create_token", "restaurant", "--for", "ajanta")[0].strip()
    assert second != first and Token.objects.get().key == second
    with pytest.raises(CommandError, match="no principal 'nobody'"):
        run("revoke_token", "nobody")
    bare = Token.objects.create(user=get_user_model().objects.create_user("by-hand"))
    assert run("revoke_token", "by-hand")[0].strip() == "by-hand: token revoked"
    assert not Token.objects.filter(key=bare.key).exists()


def test_bootstrap_prints_one_token_per_demo_role_and_keeps_them_across_runs(demo_data):
    out, _ = run("bootstrap")
    again, _ = run("bootstrap")
    tokens = {t.user.principal.kind: t for t in Token.objects.select_related("user__principal")}
    assert sorted(tokens) == sorted(KINDS)
    bindings = {kind: token.user.principal.binding for kind, token in tokens.items()}
    assert bindings == {
        "ops": "",
        "ordering-client": "alice",
        "restaurant": "chez-manuel",
        "courier": "courier-max",
        "error-sink": "",
        "ftgo-gateway": "",
        "subscriber": "",
        "search-client": "",
    }
    assert tokens["ops"].user.username == "api"
    assert f"  API token    {tokens['ops'].key}  (user api, kind ops" in out
    for token in tokens.values():
        assert out.count(token.key) == 1 and again.count(token.key) == 1
    assert "skipped" not in out


def test_bootstrap_keeps_an_ops_password_changed_by_hand_unless_tpfgo_ops_password_is_set(db, monkeypatch):
    monkeypatch.delenv("TPFGO_OPS_PASSWORD", raising=False)
    first, _ = run("bootstrap")
    ops = get_user_model().objects.get(username="ops")
    assert "  ops login    ops / tpfgo-ops-local" in first and ops.check_password("tpfgo-ops-local")
    ops.set_password("changed in the console")
    ops.save()

    again, _ = run("bootstrap")  # the next deploy (bin/node prepare) or make run

    # Before: the README's password again, on every start, whatever the operator had set.
    assert get_user_model().objects.get(username="ops").check_password("changed in the console")
    assert "  ops login    ops / (its password, unchanged)" in again
    monkeypatch.setenv("TPFGO_OPS_PASSWORD", "set by the deployment")
    run("bootstrap")
    assert get_user_model().objects.get(username="ops").check_password("set by the deployment")


@pytest.mark.parametrize(("bind", "line"), [("", None), ("127.0.0.1:9908", "  gRPC metrics http://127.0.0.1:9908/")])
def test_bootstrap_names_the_grpc_servers_metrics_address_when_it_serves_one(db, settings, bind, line):
    settings.TPFGO_GRPC_METRICS_BIND = bind  # make run sets it from GRPC_METRICS_PORT; bin/node prepare does not
    out, _ = run("bootstrap")
    named = [shown for shown in out.splitlines() if "gRPC metrics" in shown]
    assert [shown.split("  (")[0] for shown in named] == ([line] if line else [])


def test_bootstrap_without_demo_data_prints_the_unbound_roles_and_says_what_it_skipped(db):
    out, _ = run("bootstrap")
    kinds = sorted(Principal.objects.values_list("kind", flat=True))
    assert kinds == ["error-sink", "ftgo-gateway", "ops", "search-client", "subscriber"]
    assert Token.objects.count() == 5
    assert out.count("skipped") == 3 and "manage.py load_demo" in out


def test_the_api_user_of_an_earlier_bootstrap_becomes_ops(db):
    from django.apps import apps

    migration = importlib.import_module("access.migrations.0002_api_user_becomes_ops_principal")
    get_user_model().objects.create_user("api")
    get_user_model().objects.create_user("someone-else")
    migration.api_user_is_ops(apps, None)
    migration.api_user_is_ops(apps, None)  # once only
    principal = Principal.objects.get()
    assert (principal.user.username, principal.kind, principal.binding) == ("api", "ops", "")
    assert set(principal.scopes) <= set(KINDS["ops"].scopes) and "admin" in principal.scopes


def test_an_ops_principal_made_before_a_scope_existed_still_holds_it(db):
    from access.decisions import decide
    from access.scopes import Rule

    principal = create_token_principal_with(["orders:read", "admin"])
    decide(principal, Rule("subscriptions:follow"))  # admin: no Denied
    narrow = create_token_principal_with(["orders:read"], name="narrow")
    with pytest.raises(Exception, match="lacks the scope subscriptions:follow"):
        decide(narrow, Rule("subscriptions:follow"))


def create_token_principal_with(scopes: list[str], name: str = "old-ops") -> Principal:
    user = get_user_model().objects.create_user(name)
    return Principal.objects.create(user=user, kind="ops", binding="", scopes=scopes)

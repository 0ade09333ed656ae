"""`manage.py check --deploy` warns while the built-in development secret key is in use."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.test import override_settings

from tpfgo_site.settings import DEVELOPMENT_SECRET_KEY


def deploy_check_output() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", "--deploy", stdout=out, stderr=err)
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

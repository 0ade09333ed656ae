"""Test settings: the project's settings plus the engine's test lane; retries are called directly."""

from tpfgo_site.settings import *  # noqa: F403
from tpfgo_site.settings import INSTALLED_APPS, TPFGO_RETRY_POLICY

INSTALLED_APPS = [*INSTALLED_APPS, "tests.lane"]
# Unit tests run tasks by calling them; integration tests start a real worker with its own settings.
TPFGO_RETRY_ENQUEUE = ""
TPFGO_RETRY_POLICY = {**TPFGO_RETRY_POLICY, "base_delay": 0.001, "cap": 0.01}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests drive a resumed pause's drain themselves, with a controllable clock.
TPFGO_DRAIN_ENQUEUE = ""
# The sweeper reads no broker queue's depth unless a test sets the bound (tests of pipelines.recovery.resends).
TPFGO_SWEEP_RESEND_HOLD_DEPTH = 0
# Tests move every node's clock at once with time_machine (the database's included, as reckoned); measuring the
# offset again during a long session would take that back. tests/pipelines/test_clock.py turns it on.
TPFGO_CLOCK_MEASURE_SECONDS = 0

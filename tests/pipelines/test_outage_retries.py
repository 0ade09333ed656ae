"""How a worker's task is run again through a database outage (``pipelines.tasks``): the waits, and for how long."""

from __future__ import annotations

import pytest

from pipelines import tasks


def test_the_waits_double_from_one_second_up_to_thirty():
    assert [tasks.outage_delay(n) for n in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert tasks.outage_delay(10_000) == 30.0


@pytest.mark.parametrize("timeout", [0.5, 31.0, 45.0, 900.0])
def test_a_task_is_run_again_until_its_waits_add_up_to_the_claim_timeout(settings, timeout):
    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = timeout
    runs = tasks.outage_retries_allowed()
    waits = [tasks.outage_delay(n) for n in range(runs)]
    assert sum(waits) >= timeout > sum(waits[:-1])

"""Settings for starting a real process (gunicorn, a Celery worker) on a broken composition.

``TPFGO_TEST_COMPOSITION`` picks another composition (the sound lane, for a control run) and ``TPFGO_CONTRACTS_LOCK``
the lock it is checked against.
"""

import os
from pathlib import Path

from tests.settings import *  # noqa: F403
from tests.settings import BASE_DIR

TPFGO_COMPOSITION = os.environ.get("TPFGO_TEST_COMPOSITION", "tests.contracts_fixtures.compositions.TYPE_MISMATCH")
TPFGO_CONTRACTS_LOCK = Path(os.environ.get("TPFGO_CONTRACTS_LOCK", BASE_DIR / "contracts.lock.json"))

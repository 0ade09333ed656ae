"""Settings of a real Celery worker (and the processes a crash test kills) started by the integration tests.

They share the test process's database (``TPFGO_WORKER_DB_NAME``: the PostgreSQL test database, which the
transactional tests commit to) as the serving role (``TPFGO_WORKER_DB_USER``), and use Redis
(``CELERY_BROKER_URL``, a dedicated database the tests flush).
Retries and the sweeper run on millisecond-to-second scales so a test takes seconds.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, TPFGO_RETRY_POLICY

DATABASES = {"default": {**DATABASES["default"], "NAME": os.environ.get("TPFGO_WORKER_DB_NAME", "")}}
# The serving role the tests made (tests.conftest.pg_roles): workers run with only its grants, as in production.
if os.environ.get("TPFGO_WORKER_DB_USER"):
    DATABASES["default"].update(USER=os.environ["TPFGO_WORKER_DB_USER"], PASSWORD="")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# (RabbitMQ: tpfgo_site.settings' own options, publisher confirms and the quorum default queue.)
# The production hooks: a failed attempt enqueues the next one, the sweeper hands resumes to a worker.
TPFGO_RETRY_ENQUEUE = "pipelines.tasks.enqueue_retry"
TPFGO_RESUME_ENQUEUE = "pipelines.tasks.enqueue_resume"
TPFGO_DRAIN_ENQUEUE = "pipelines.tasks.enqueue_drain"
TPFGO_RETRY_POLICY = {**TPFGO_RETRY_POLICY, "base_delay": 0.001, "cap": 0.01}
# No courier: retried for ~10 s (not ~1 h), long enough for a test to make one available.
TPFGO_RETRY_POLICIES = {
    "dispatch.delivery_assigned": {"base_delay": 0.05, "cap": 0.25, "max_attempts": 40, "jitter": 0}
}
TPFGO_SWEEP_GRACE_SECONDS = float(os.environ.get("TPFGO_SWEEP_GRACE_SECONDS", "0.5"))
TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = float(os.environ.get("TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS", "2"))
# A run is cut at a minute here (a loaded machine's slow run must finish), not at the 2 s claim timeout.
TPFGO_WORK_TIME_LIMIT_SECONDS = float(os.environ.get("TPFGO_WORK_TIME_LIMIT_SECONDS", "60"))
TPFGO_SWEEP_SECONDS = 0.5
CELERY_BEAT_SCHEDULE = {"sweep-parked": {"task": "pipelines.sweep", "schedule": TPFGO_SWEEP_SECONDS / 2}}
TPFGO_RELEASE_SECONDS = 0.2
TPFGO_CLOCK_MEASURE_SECONDS = 60  # a real process measures its offset again as shipped (tests.settings turns it off)
if TPFGO_DELAYED_DELIVERY == "database":  # noqa: F405
    CELERY_BEAT_SCHEDULE["release-due"] = {"task": "pipelines.release_due", "schedule": TPFGO_RELEASE_SECONDS}
# A server process of the subscription tests follows the test lane's publications when asked to.
TPFGO_COMPOSITION = os.environ.get("TPFGO_TEST_COMPOSITION", TPFGO_COMPOSITION)  # noqa: F405

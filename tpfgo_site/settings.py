"""TPFGo settings: everything comes from environment variables with safe local defaults."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import django_stubs_ext
from kombu.entity import Queue

from tpfgo_site import dburl, logs

# Generic Django classes subscriptable at run time, as the type checker reads them (`ModelAdmin[Courier]`).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TPFGO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


# Public (it is in this file): `manage.py check --deploy` warns while it is in use (tpfgo_site.W001).
DEVELOPMENT_SECRET_KEY = "tpfgo-local-development-key-not-for-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")

INSTALLED_APPS = [
    "pipelines",
    "opsconsole",
    "access",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets, served from STATIC_ROOT (no CDN)
    "django_structlog",
    "checkout",
    # One app per step of the canonical chain, its unhappy paths and its remediations.
    "checkout.order_request",
    "checkout.initial_order",
    "checkout.ready_order",
    "checkout.consumer_verified",
    "checkout.payment_authorized",
    "checkout.order_approved",
    "checkout.ticket_created",
    "checkout.acceptance_decision",
    "checkout.order_accepted_by_restaurant",
    "checkout.kitchen_commitment",
    "checkout.kitchen_task",
    "checkout.order_ready_for_dispatch",
    "checkout.delivery_assigned",
    "checkout.order_picked_up",
    "checkout.order_delivered",
    "checkout.payment_outcome",
    "checkout.terminal_order_state",
    "checkout.order_rejected",
    "checkout.authorization_voided",
    "checkout.order_cancelled",
    "checkout.cancellation_requested",
    "checkout.cancellation_decision",
    "checkout.ticket_withdrawn",
    "checkout.ops_courier_choice",
    "checkout.ops_cancellation",
    "checkout.refund_issued",
    "checkout.payment_review_resolved",
    "checkout.revision_requested",
    "checkout.payment_reauthorized",
    "checkout.revision_decision",
    "checkout.revised_order",
    "checkout.revised_ticket",
    "checkout.courier_reassigned",
    "checkout.delivery_escalated",
    # The search lane (docs/lanes.md): a second domain on the same engine, one app per step.
    "search.query_received",
    "search.shard_searched",
    "search.results_merged",
    "search.results_ranked",
    "search.query_logged",
    # FTGO's REST surface over the same services (its alias ledger).
    "ftgo",
    # After pipelines: its grpcrunserver (pipelines.transport.grpc_compat) overrides this one.
    "django_grpc_framework",
]

MIDDLEWARE = [
    # First, so the request latency covers the whole stack.
    "pipelines.transport.request_metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    # Its request_id (and the trace's ids) for gunicorn's access line, which is written once they are unbound.
    "tpfgo_site.logs.AccessLineIds",
]

ROOT_URLCONF = "tpfgo_site.urls"
WSGI_APPLICATION = "tpfgo_site.wsgi.application"
# The project's templates live in the top-level templates/ (the ops console's under admin/ and opsconsole/, the
# API's ReDoc page under checkout/); APP_DIRS finds the admin's, DRF's and drf-spectacular's own.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dburl.parse(os.environ.get("DATABASE_URL", "sqlite:///var/tpfgo.sqlite3"), BASE_DIR)}
if "TEST_DATABASE_NAME" in os.environ:
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
# PostgreSQL roles (docs/operations.md, "Database roles"): migrations and `setup_db_roles` connect as the owner's
# URL, the audited purge (`flush`) as the purge role's; only their user, password, host and port are used (the
# database stays DATABASE_URL's). Unset: DATABASE_URL's credentials, as for everything else.
TPFGO_DATABASE_OWNER = dburl.credentials(os.environ.get("DATABASE_OWNER_URL", ""))
TPFGO_DATABASE_PURGE = dburl.credentials(os.environ.get("DATABASE_PURGE_URL", ""))
# The roles `setup_db_roles` creates and grants: the one the app serves as (by default DATABASE_URL's user when an
# owner URL is set, as the app then serves as that user), and the purge role.
_serving_user = str(DATABASES["default"].get("USER", "")) if TPFGO_DATABASE_OWNER else ""
TPFGO_DB_APP_ROLE = os.environ.get("TPFGO_DB_APP_ROLE") or _serving_user or "tpfgo_app"
TPFGO_DB_PURGE_ROLE = os.environ.get("TPFGO_DB_PURGE_ROLE", "tpfgo_purge")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The engine's outermost transactions are atomic(durable=True); a request-wide transaction would nest them.
ATOMIC_REQUESTS = False

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Without a proxy in front (make run), the app serves STATIC_ROOT itself; set 0 when a proxy or CDN does.
TPFGO_SERVE_STATIC = env_bool("TPFGO_SERVE_STATIC", True)
LOGIN_URL = "/ops/login/"
# Where a login lands when its `next` is another site's (refused) or missing: the console (Django's default is a page
# this project does not serve).
LOGIN_REDIRECT_URL = "/ops/"

# --- Celery: the embedded default is kombu's filesystem transport, so the first run needs no Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
_BROKER_SCHEME = CELERY_BROKER_URL.split("://", 1)[0]
_AMQP = _BROKER_SCHEME in {"amqp", "amqps", "pyamqp"}
if CELERY_BROKER_URL == "filesystem://":
    # kombu's filesystem transport with a contained fix: a message file appears whole (kombu's could be read empty).
    CELERY_BROKER_TRANSPORT = "tpfgo_site.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
elif _AMQP:
    # RabbitMQ (docs/operations.md, "Brokers"): a publish returns once the broker confirmed it (publisher
    # confirms), and the default queue is a quorum queue (replicated; no priorities, no global QoS). The
    # pipelines' queues get the same argument where they are declared.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CELERY_TASK_QUEUES = [Queue("celery", routing_key="celery", queue_arguments={"x-queue-type": "quorum"})]  # type: ignore[no-untyped-call]
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    if _BROKER_SCHEME in {"redis", "rediss"}:
        # kombu's Redis transport with a contained fix: a worker outlives a restart of Redis (it exited there).
        CELERY_BROKER_TRANSPORT = "tpfgo_site.redis_broker:Transport"
        # kombu's transport option (redis-py's): a connection attempt to a broker host that drops packets gives up
        # after this many seconds; unset, it waited for the system's TCP connect timeout (about 2 minutes on
        # Linux), and a request that parks a retry waits on its one publish attempt (pipelines.tasks.PUBLISH_ONCE).
        CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = float(
            os.environ.get("TPFGO_BROKER_CONNECT_TIMEOUT", "2")
        )
        # And a command on an open connection (a publish; a readiness check has its own bound, below) waits this many
        # seconds for the broker's answer; unset, one to a broker that stopped answering (its host gone, packets
        # dropped) waited forever. A worker's BRPOP waits 1 s at the broker for a message (kombu's brpop_timeout), so
        # this is above that: an idle worker's poll is answered in time (docs/operations.md, "Brokers").
        CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] = float(os.environ.get("TPFGO_BROKER_SOCKET_TIMEOUT", "5"))
    if _BROKER_SCHEME == "rediss":
        # TLS verifies the broker's certificate against the system's CAs unless the URL's ssl_* parameters say
        # otherwise (they replace this; docs/operations.md, "Brokers"). kombu would fall back to no verification.
        CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
# A readiness check (/readyz, the gRPC health) waits for a Redis broker at most this many seconds, to connect and for
# each answer (tpfgo_site.health.readiness_transport_options): below a load balancer's probe timeout, so a broker that
# stopped answering reads "degraded", not a probe that timed out.
TPFGO_READINESS_BROKER_TIMEOUT = float(os.environ.get("TPFGO_READINESS_BROKER_TIMEOUT", "1"))
# When a retry or a drain pass is due later: "broker" publishes it now with a Celery eta/countdown (Redis holds it
# in the worker until due; fine below the visibility timeout), "database" publishes nothing until it is due and
# beat's pipelines.release_due publishes what fell due, every TPFGO_RELEASE_SECONDS (RabbitMQ's quorum queues
# would otherwise block a worker on each eta message, or need Celery's native delayed delivery: see "Brokers").
TPFGO_DELAYED_DELIVERY = os.environ.get("TPFGO_DELAYED_DELIVERY", "database" if _AMQP else "broker")
TPFGO_RELEASE_SECONDS = float(os.environ.get("TPFGO_RELEASE_SECONDS", "2"))
# Beat's clock-driven tasks go to a queue of their own (Celery's routing): a sweep, a deadline pass or a release of
# what fell due waits for a free worker, not behind the retries and resumes queued on the default queue. A worker
# started without -Q consumes it beside the others (docs/operations.md, "Queued hand-offs"). The name is outside the
# tpfgo.<pipeline> names of the hand-offs' queues.
TPFGO_TIMERS_QUEUE = "tpfgo-timers"
CELERY_TASK_ROUTES = {
    name: {"queue": TPFGO_TIMERS_QUEUE}
    for name in ("pipelines.sweep", "pipelines.expire_waits", "pipelines.release_due")
}
# A worker (and beat) that lost its broker tries again for as long as the broker is away: Celery's default gives up
# after 100 tries (about 47 minutes at its 30 s cap) and exits the worker ("Unrecoverable error: OperationalError"),
# and under `make run` every server with it. Parked work waits in the database meanwhile (docs/operations.md).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Django's LOGGING (JSON lines on stdout) stays in force inside the worker; see tpfgo_site/celery.py.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- The engine.
TPFGO_ERROR_SINKS = os.environ.get(
    "TPFGO_ERROR_SINKS", "pipelines.failures.sinks.DatabaseSink,pipelines.failures.sinks.StderrSink"
).split(",")
TPFGO_RETRY_POLICY: dict[str, Any] = {
    "max_attempts": int(os.environ.get("TPFGO_RETRY_MAX_ATTEMPTS", "4")),
    "base_delay": float(os.environ.get("TPFGO_RETRY_BASE_DELAY", "10")),
    "multiplier": 2.0,
    "cap": 1800.0,
    "jitter": 0.0,
}
# A pipeline's steps each commit on their own by default; "pipeline" wraps a whole pipeline in one transaction.
TPFGO_ATOMICITY = os.environ.get("TPFGO_ATOMICITY", "step")
# PostgreSQL: "boundary" commits a run's steps asynchronously and flushes before anything leaves the process (the
# answer, a gateway call, a message); "commit" flushes every commit (docs/architecture.md, "Durability").
TPFGO_DURABILITY = os.environ.get("TPFGO_DURABILITY", "boundary")
# SQLite: a thread per process checkpoints the WAL this often, off the request path (0: only SQLite's own).
TPFGO_SQLITE_CHECKPOINT_SECONDS = float(os.environ.get("TPFGO_SQLITE_CHECKPOINT_SECONDS", "0.5"))
# PostgreSQL: the engine prepares its insert statements once per connection; 0 for a pooler that cannot keep them.
TPFGO_PREPARED_STATEMENTS = env_bool("TPFGO_PREPARED_STATEMENTS", True)
# Freeze the start-up objects out of the cyclic collector, fewer young collections (pipelines/engine/gctuning.py).
TPFGO_GC_TUNING = env_bool("TPFGO_GC_TUNING", True)
# --- Failure handling (docs/operations.md). Per-step retry overrides over the declared policy, by "pipeline.step":
# {"dispatch.delivery_assigned": {"max_attempts": 20}}.
TPFGO_RETRY_POLICIES: dict[str, dict[str, Any]] = {}
# The sweeper (Celery beat, pipelines.sweep): a due retry still unclaimed this long after its due time, or a trace
# whose newest checkpoint is this old, counts as lost; it looks back this far only (bounded queries); a claim older
# than the timeout with nothing after it died with its worker.
TPFGO_SWEEP_GRACE_SECONDS = float(os.environ.get("TPFGO_SWEEP_GRACE_SECONDS", "120"))
TPFGO_SWEEP_WINDOW_SECONDS = float(os.environ.get("TPFGO_SWEEP_WINDOW_SECONDS", "86400"))
TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = float(os.environ.get("TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS", "900"))
# PostgreSQL: a claim whose run has ended without finishing (its lock is free: pipelines.store.claim_locks) counts as
# lost once it is this old, not a claim timeout later (the run's own task, run again by Celery, goes first).
TPFGO_SWEEP_ORPHAN_SECONDS = float(os.environ.get("TPFGO_SWEEP_ORPHAN_SECONDS", "60"))
# Celery's hard time limit of a task that carries work (an attempt, a resume, a queued hand-off; unset: the claim
# timeout): past it the pool kills the process running it and starts another, so a call that never answers holds no
# pool process for good (every process hung: the worker ran nothing, not even the sweep). The claim it left is
# recovered as a dead worker's (docs/operations.md, "Crash matrix").
TPFGO_WORK_TIME_LIMIT_SECONDS = float(
    os.environ.get("TPFGO_WORK_TIME_LIMIT_SECONDS") or TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS
)
# 0 behind a connection pooler in transaction mode: session advisory locks do not hold (the claim timeout decides).
TPFGO_CLAIM_LOCKS = env_bool("TPFGO_CLAIM_LOCKS", True)
# The sweeper sends a lost resume or retry again only this long after it sent it (unset: the grace period), then
# after twice as long each time, up to the maximum (unset: the claim timeout): pipelines.recovery.resends.
TPFGO_SWEEP_RESEND_SECONDS = (
    float(os.environ["TPFGO_SWEEP_RESEND_SECONDS"]) if os.environ.get("TPFGO_SWEEP_RESEND_SECONDS") else None
)
TPFGO_SWEEP_RESEND_MAX_SECONDS = (
    float(os.environ["TPFGO_SWEEP_RESEND_MAX_SECONDS"]) if os.environ.get("TPFGO_SWEEP_RESEND_MAX_SECONDS") else None
)
# While the queue a lost retry or resume goes to holds this many messages, the sweeper sends no copy of work whose
# earlier message may be among them (pipelines.recovery.resends); 0 never holds.
TPFGO_SWEEP_RESEND_HOLD_DEPTH = int(os.environ.get("TPFGO_SWEEP_RESEND_HOLD_DEPTH", "1000"))
TPFGO_SWEEP_BATCH = int(os.environ.get("TPFGO_SWEEP_BATCH", "200"))
# One sweep per slot of this many seconds, however many beats run (pipelines.models.SweepTick).
TPFGO_SWEEP_SECONDS = float(os.environ.get("TPFGO_SWEEP_SECONDS", "30"))
# How old a node's measured offset from the database's clock may get before it is measured again (0: only when a
# connection opens): a process that keeps its connection reckons right again this long after its clock was stepped.
TPFGO_CLOCK_MEASURE_SECONDS = float(os.environ.get("TPFGO_CLOCK_MEASURE_SECONDS", "60"))
# The deadline task (Celery beat, pipelines.expire_waits) fires at most this many due waits per pass.
TPFGO_DEADLINE_BATCH = int(os.environ.get("TPFGO_DEADLINE_BATCH", "200"))
# Pausing a step (pipelines.engine.pauses, docs/operations.md "Pausing a step"): how stale a process's view of the
# pauses may be, and how fast a resumed pause's held items are released (this many every interval).
TPFGO_PAUSE_CACHE_SECONDS = float(os.environ.get("TPFGO_PAUSE_CACHE_SECONDS", "2"))
TPFGO_PAUSE_DRAIN_PER_INTERVAL = int(os.environ.get("TPFGO_PAUSE_DRAIN_PER_INTERVAL", "20"))
TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS = float(os.environ.get("TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS", "5"))
# New orders are refused (429 RESOURCE_EXHAUSTED) while this many parked items wait (retrying or paused; 0: no
# bound); the count is read at most once per TPFGO_BACKLOG_CHECK_SECONDS per process.
TPFGO_BACKLOG_BOUND = int(os.environ.get("TPFGO_BACKLOG_BOUND", "10000"))
TPFGO_BACKLOG_CHECK_SECONDS = float(os.environ.get("TPFGO_BACKLOG_CHECK_SECONDS", "2"))
# Delivery modes (docs/architecture.md, "Delivery modes"): "name=queue,name2=sync" ("*" names every subscribed
# publication) overrides the modes the composition declares; a queued publication's subscribers run on workers.
TPFGO_PUBLICATION_MODES = os.environ.get("TPFGO_PUBLICATION_MODES", "")
# New work is refused (429 RESOURCE_EXHAUSTED) while a pipeline downstream of it has this many hand-offs published to
# its queue and not consumed (0: no bound); a pending hand-off not consumed this long is sent again by the sweeper.
TPFGO_QUEUE_BACKLOG_BOUND = int(os.environ.get("TPFGO_QUEUE_BACKLOG_BOUND", "5000"))
TPFGO_QUEUE_RESEND_SECONDS = float(os.environ.get("TPFGO_QUEUE_RESEND_SECONDS", "600"))
# Bulk remediation (docs/operations.md): orders per batch, orders per run, and how long a run may sit without a
# new result before the beat task continues it.
TPFGO_BULK_REMEDIATION_BATCH = int(os.environ.get("TPFGO_BULK_REMEDIATION_BATCH", "20"))
TPFGO_BULK_REMEDIATION_MAX_ORDERS = int(os.environ.get("TPFGO_BULK_REMEDIATION_MAX_ORDERS", "1000"))
TPFGO_BULK_REMEDIATION_IDLE_SECONDS = float(os.environ.get("TPFGO_BULK_REMEDIATION_IDLE_SECONDS", "60"))
# pipelines.sinks.RemoteSink: forward entries to a central sink (http(s)://host → REST, grpc://host:port → gRPC in
# clear, grpcs://host:port → gRPC over TLS) with this token; when forwarding fails, the fallback sinks (those not
# already in TPFGO_ERROR_SINKS) record them.
TPFGO_ERROR_SINK_URL = os.environ.get("TPFGO_ERROR_SINK_URL", "")
TPFGO_ERROR_SINK_TOKEN = os.environ.get("TPFGO_ERROR_SINK_TOKEN", "")
# The root certificates (a PEM file) https:// and grpcs:// trust for the central sink; empty: the system's.
TPFGO_ERROR_SINK_CA_FILE = os.environ.get("TPFGO_ERROR_SINK_CA_FILE", "")
TPFGO_ERROR_SINK_TIMEOUT = float(os.environ.get("TPFGO_ERROR_SINK_TIMEOUT", "3"))
TPFGO_ERROR_SINK_SOURCE = os.environ.get("TPFGO_ERROR_SINK_SOURCE", "")  # this instance's name; default: hostname
TPFGO_ERROR_SINK_FALLBACK = os.environ.get(
    "TPFGO_ERROR_SINK_FALLBACK", "pipelines.failures.sinks.DatabaseSink,pipelines.failures.sinks.StderrSink"
).split(",")
# Streams (docs/backpressure.md): bounded hand-off buffers, demand in batches, overflow "block" or "reject".
TPFGO_BUFFER_CAPACITY = int(os.environ.get("TPFGO_BUFFER_CAPACITY", "128"))
TPFGO_OVERFLOW_POLICY = os.environ.get("TPFGO_OVERFLOW_POLICY", "block")
TPFGO_STREAM_BATCH_SIZE = int(os.environ.get("TPFGO_STREAM_BATCH_SIZE", "32"))
# Threads per stream stage (in flight at once); unset: 1 on SQLite (writers serialize), 4 on PostgreSQL.
TPFGO_STREAM_WORKERS = int(os.environ.get("TPFGO_STREAM_WORKERS", "0")) or None
# Lines an ingest worker places at once through the batched path (1: each line alone on the single path).
TPFGO_INGEST_BATCH = int(os.environ.get("TPFGO_INGEST_BATCH", "64"))
# Streams one process serves at once (keep the sum below the gRPC server's worker threads); beyond: 429.
TPFGO_INGEST_MAX_STREAMS = int(os.environ.get("TPFGO_INGEST_MAX_STREAMS", "4"))
TPFGO_WATCH_MAX_STREAMS = int(os.environ.get("TPFGO_WATCH_MAX_STREAMS", "4"))
TPFGO_INGEST_RETRY_AFTER = float(os.environ.get("TPFGO_INGEST_RETRY_AFTER", "1"))
# A line that meets a downstream queue at its bound waits (slowing its stream) this long in all before its 429.
TPFGO_INGEST_BACKLOG_WAIT_SECONDS = float(os.environ.get("TPFGO_INGEST_BACKLOG_WAIT_SECONDS", "30"))
# An HTTP ingest stream whose client neither sends a byte nor takes an answer for this long is ended (its slot freed);
# longer than the backlog wait, so a client waiting for a slow line's answer is not cut. 0: never.
TPFGO_INGEST_IDLE_SECONDS = float(os.environ.get("TPFGO_INGEST_IDLE_SECONDS", "60"))
# An ingest stream checks its token again before placing lines, at most once per this many seconds (0: before every
# line or micro-batch): once revoked, nothing more is placed and the stream ends UNAUTHENTICATED.
TPFGO_INGEST_TOKEN_CHECK_SECONDS = float(os.environ.get("TPFGO_INGEST_TOKEN_CHECK_SECONDS", "1"))
# A WatchOrder or Subscribe call whose client leaves an answer untaken this long is cancelled; 0: never.
TPFGO_STREAM_UNREAD_SECONDS = float(os.environ.get("TPFGO_STREAM_UNREAD_SECONDS", "60"))
# A worker-only node serves its own processes' metrics on this address (host:port); unset: no port of its own.
TPFGO_WORKER_METRICS_BIND = os.environ.get("TPFGO_WORKER_METRICS_BIND", "")
# Where bin/node binds its web and gRPC servers; read here by the deploy check of a gRPC server in clear
# (tpfgo_site.W006).
BIND_HOST = os.environ.get("BIND_HOST", "127.0.0.1")
GRPC_PORT = os.environ.get("GRPC_PORT", "50051")
# The gRPC server speaks TLS with this certificate chain and private key (PEM files; both or neither); unset: in clear.
TPFGO_GRPC_TLS_CERT_FILE = os.environ.get("TPFGO_GRPC_TLS_CERT_FILE", "")
TPFGO_GRPC_TLS_KEY_FILE = os.environ.get("TPFGO_GRPC_TLS_KEY_FILE", "")
# The gRPC server answers server reflection (every service's schema, to an ops token only); off unless set, as a
# production server hands its schema to no one who asks (docs/api.md, "gRPC"); `make run` turns it on.
TPFGO_GRPC_REFLECTION = env_bool("TPFGO_GRPC_REFLECTION", False)
# The gRPC server serves its own streams' gauges on this address (host:port); unset: they are not scraped.
TPFGO_GRPC_METRICS_BIND = os.environ.get("TPFGO_GRPC_METRICS_BIND", "")
# ...and its metrics folder's samples too (requests, step runs), when no web node's /metrics reads that folder:
# bin/node grpc sets it when it picks the folder itself.
TPFGO_GRPC_METRICS_ALL = os.environ.get("TPFGO_GRPC_METRICS_ALL", "") not in ("", "0")
# What a client may send on any transport (docs/api.md, "Limits"): a larger body is 413 (gRPC: RESOURCE_EXHAUSTED),
# deeper JSON or a longer text field 400.
TPFGO_API_MAX_BODY_BYTES = int(os.environ.get("TPFGO_API_MAX_BODY_BYTES", str(1024 * 1024)))
TPFGO_API_MAX_JSON_DEPTH = int(os.environ.get("TPFGO_API_MAX_JSON_DEPTH", "16"))
TPFGO_API_MAX_TEXT_LENGTH = int(os.environ.get("TPFGO_API_MAX_TEXT_LENGTH", "300"))
# A connection-level database error is 503 UNAVAILABLE with this Retry-After (gRPC: RetryInfo), in seconds.
TPFGO_API_UNAVAILABLE_RETRY_AFTER = float(os.environ.get("TPFGO_API_UNAVAILABLE_RETRY_AFTER", "5"))
# Checkpoint observers wait this long for an in-flight log seq before skipping it, and re-check it this long.
TPFGO_OBSERVER_GAP_TIMEOUT = float(os.environ.get("TPFGO_OBSERVER_GAP_TIMEOUT", "10"))
TPFGO_OBSERVER_LATE_HORIZON = float(os.environ.get("TPFGO_OBSERVER_LATE_HORIZON", "300"))
# Remote subscription (pipelines.transport.subscriptions, docs/subscriptions.md): follows served at once per
# process (keep it well below the web threads: each HTTP follow holds one), log rows read per poll, idle poll and
# heartbeat.
TPFGO_SUBSCRIBERS_PER_PROCESS = int(os.environ.get("TPFGO_SUBSCRIBERS_PER_PROCESS", "2"))
TPFGO_SUBSCRIPTION_BUFFER = int(os.environ.get("TPFGO_SUBSCRIPTION_BUFFER", "100"))
TPFGO_SUBSCRIPTION_POLL_SECONDS = float(os.environ.get("TPFGO_SUBSCRIPTION_POLL_SECONDS", "0.5"))
TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS = float(os.environ.get("TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS", "15"))
TPFGO_SUBSCRIBER_LEASE_SECONDS = float(os.environ.get("TPFGO_SUBSCRIBER_LEASE_SECONDS", "30"))

# --- Structured logging (tpfgo_site/logs.py): JSON lines on stdout (a management command's on stderr), tracebacks
# included; error-sink lines go to stderr.
LOG_LEVEL = logs.LOG_LEVEL
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": logs.json_formatter()},
    # A failed request's traceback scrubbed of the payment tokens it names, a failed task's by class only, before any
    # handler sees the record (tpfgo_site/scrubbed_logs.py).
    "filters": {
        "request_traceback": {"()": "tpfgo_site.scrubbed_logs.RequestTraceback"},
        "task_failure": {"()": "tpfgo_site.scrubbed_logs.TaskFailure"},
    },
    # Named "stdout" for the tests that redirect it; it writes to stderr in management commands.
    "handlers": {"stdout": logs.json_handler()},
    "root": {"handlers": ["stdout"], "level": "WARNING"},
    "loggers": {
        "django_structlog": {"level": LOG_LEVEL},
        "pipelines": {"level": LOG_LEVEL},
        "checkout": {"level": LOG_LEVEL},
        "search": {"level": LOG_LEVEL},
        "opsconsole": {"level": LOG_LEVEL},
        "tpfgo_site": {"level": LOG_LEVEL},
        "grpc": {"level": LOG_LEVEL},
        "celery": {"level": LOG_LEVEL},
        "django.request": {"filters": ["request_traceback"]},
        "celery.app.trace": {"filters": ["task_failure"]},
        # billiard (Celery's pool: "Process 'ForkPoolWorker-N' pid:… exited with …") logs here and never propagates,
        # so without a handler of its own Python printed the bare text on stderr.
        "multiprocessing": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}
logs.configure_structlog()
logs.capture_warnings()
DJANGO_STRUCTLOG_CELERY_ENABLED = True

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every /api/v1/ route needs a token (the schema and docs routes opt out) whose principal holds the route's
    # scope (access/scopes.py); errors use the JSON envelope.
    "DEFAULT_AUTHENTICATION_CLASSES": ["access.drf.PrincipalTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["access.drf.ScopePermission"],
    "EXCEPTION_HANDLER": "checkout.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TPFGo API",
    "DESCRIPTION": "Checkpoint pipelines for the FTGO food-delivery flow.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: the docs work without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Restaurants' acceptanceMode and couriers' completionMode share one choice set.
    "ENUM_NAME_OVERRIDES": {
        "ModeEnum": "checkout.api.serializers.MODES",
        "OutcomeEnum": "checkout.api.serializers.OUTCOMES",
        "RevisionOutcomeEnum": "checkout.order_view.REVISION_OUTCOMES",
        # FTGO's six order states (the /ftgo/ surface answers them in `state`, `orderInfo.state` and `status`).
        "FtgoOrderStateEnum": "ftgo.states.FTGO_STATES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "checkout.api.schema.require_bodies",
    ],
}
# gRPC (django-grpc-framework): `manage.py grpcrunserver` serves the services this hook registers.
GRPC_FRAMEWORK = {
    "ROOT_HANDLERS_HOOK": "tpfgo_site.grpc_handlers.grpc_handlers",
    # OpenTelemetry's server interceptor when tracing is on (pipelines/engine/tracing.py); a pass-through otherwise.
    "SERVER_INTERCEPTORS": ["pipelines.engine.tracing.GRPC_SERVER_TRACING"],
}
# What pipelines.transport.rpc asks after the token: may this principal call this gRPC method with this message?
TPFGO_RPC_POLICY = "access.rpc.authorize"
# The checkout chain and the search lane, combined (tpfgo_site/composition.py).
TPFGO_COMPOSITION = "tpfgo_site.composition.COMPOSITION"
# The committed record of every publication's contract; only `manage.py check_contracts --update-lock` writes it.
TPFGO_CONTRACTS_LOCK = Path(os.environ.get("TPFGO_CONTRACTS_LOCK", BASE_DIR / "contracts.lock.json"))

# --- The search lane (docs/lanes.md): shards a query fans out to, the merge's deadline, the answer's length.
TPFGO_SEARCH_SHARDS = int(os.environ.get("TPFGO_SEARCH_SHARDS", "8"))
TPFGO_SEARCH_DEADLINE_MS = int(os.environ.get("TPFGO_SEARCH_DEADLINE_MS", "250"))
TPFGO_SEARCH_TOP_K = int(os.environ.get("TPFGO_SEARCH_TOP_K", "10"))
TPFGO_SEARCH_SHARDS_BACKEND = os.environ.get("TPFGO_SEARCH_SHARDS_BACKEND", "search.shards.SimulatedShards")
# The console remediates a query through the lane's own actions (opsconsole/ops_actions.py).
TPFGO_OPS_ACTION_DOMAINS = ("search.ops_actions",)

# --- The FTGO domain.
TPFGO_PAYMENT_GATEWAY = os.environ.get("TPFGO_PAYMENT_GATEWAY", "checkout.payments.SimulatedGateway")
# Deadlines of the waits (docs/checkout.md, "Deadlines"), in minutes per round: the restaurant's answer, the
# courier's pickup (reassign, then escalate) and dropoff (escalate), ops' payment review (decline and void).
TPFGO_ACCEPTANCE_DEADLINE_MINUTES = int(os.environ.get("TPFGO_ACCEPTANCE_DEADLINE_MINUTES", "30"))
TPFGO_PICKUP_DEADLINE_MINUTES = float(os.environ.get("TPFGO_PICKUP_DEADLINE_MINUTES", "20"))
TPFGO_DROPOFF_DEADLINE_MINUTES = float(os.environ.get("TPFGO_DROPOFF_DEADLINE_MINUTES", "60"))
TPFGO_REVIEW_DEADLINE_MINUTES = float(os.environ.get("TPFGO_REVIEW_DEADLINE_MINUTES", "1440"))
TPFGO_DEFAULT_PREPARATION_MINUTES = 20
TPFGO_DEFAULT_ETA_MINUTES = 25
# --- The ops console's funnel (opsconsole/funnel.py): Celery beat folds the checkpoint log into per-day counts this
# often (the dashboard counts the rows after the fold itself), at most this many log seqs per transaction.
TPFGO_FUNNEL_FOLD_SECONDS = float(os.environ.get("TPFGO_FUNNEL_FOLD_SECONDS", "30"))
TPFGO_FUNNEL_FOLD_BATCH = int(os.environ.get("TPFGO_FUNNEL_FOLD_BATCH", "100000"))
# --- Partitions of the checkpoint log and the lineage on PostgreSQL (pipelines/store/partitions.py): months created
# this far ahead, by `manage.py partitions` and by beat once a day.
TPFGO_PARTITION_MONTHS_AHEAD = int(os.environ.get("TPFGO_PARTITION_MONTHS_AHEAD", "3"))
# The hourly purge waits this long for each lock of a month it drops whole; a month whose lock is not granted in time
# (a long reader on its partition) is skipped this hour (log partitions.drop_failed, sqlstate 55P03).
TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS = float(os.environ.get("TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS", "10"))
# --- Retention (docs/operations.md, "Retention and tombstones"): days each kind of data is kept (0: forever).
# Orders (every row of a terminal order's trace) leave a tombstone; ops actions are the audit trail, kept longest.
TPFGO_RETENTION = {
    "orders": float(os.environ.get("TPFGO_RETENTION_ORDERS_DAYS", "365")),
    "error_sink": float(os.environ.get("TPFGO_RETENTION_ERROR_SINK_DAYS", "90")),
    "parked": float(os.environ.get("TPFGO_RETENTION_PARKED_DAYS", "90")),
    "ops_actions": float(os.environ.get("TPFGO_RETENTION_OPS_ACTIONS_DAYS", "1095")),
    "sweep_ticks": float(os.environ.get("TPFGO_RETENTION_SWEEP_TICKS_DAYS", "30")),
}
TPFGO_RETENTION_BATCH = int(os.environ.get("TPFGO_RETENTION_BATCH", "200"))  # orders (or rows) per transaction
TPFGO_RETENTION_SCHEDULE_SECONDS = float(os.environ.get("TPFGO_RETENTION_SCHEDULE_SECONDS", "3600"))
TPFGO_RETENTION_TERMINAL = "checkout.retention.terminal_orders"  # which traces are finished: the domain says
# Ops actions no policy removes: an erasure's audit row (checkout/personal.py) is the proof that it was done, and the
# list of consumers to erase again in a backup restored from before it.
TPFGO_RETENTION_KEPT_ACTIONS = ("erase-consumer",)
CELERY_BEAT_SCHEDULE = {
    "purge-expired": {"task": "pipelines.purge", "schedule": TPFGO_RETENTION_SCHEDULE_SECONDS},
    "ensure-partitions": {"task": "pipelines.ensure_partitions", "schedule": 86400.0},
    "expire-waits": {"task": "pipelines.expire_waits", "schedule": 30.0},
    # Asked twice per slot: the first ask claims the slot (pipelines.models.SweepTick), the second finds it taken.
    "sweep-parked": {"task": "pipelines.sweep", "schedule": TPFGO_SWEEP_SECONDS / 2},
    "fold-funnel": {"task": "opsconsole.fold_funnel", "schedule": TPFGO_FUNNEL_FOLD_SECONDS},
    "continue-bulk-remediation": {"task": "checkout.continue_bulk_remediation", "schedule": 30.0},
}
if TPFGO_DELAYED_DELIVERY == "database":
    CELERY_BEAT_SCHEDULE["release-due"] = {"task": "pipelines.release_due", "schedule": TPFGO_RELEASE_SECONDS}

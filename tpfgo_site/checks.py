"""Checks of the site's own settings: deployment checks (``manage.py check --deploy``) and the error-sink CA file's
(every ``check``, every command that runs the checks)."""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import DatabaseError, connection
from django.utils.module_loading import import_string

from tpfgo_site.settings import DEVELOPMENT_SECRET_KEY

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@checks.register(checks.Tags.security, deploy=True)
def development_secret_key(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The built-in development key signs sessions and tokens with a value anyone can read in the repository."""
    if settings.SECRET_KEY != DEVELOPMENT_SECRET_KEY:
        return []
    return [
        checks.Warning(
            "SECRET_KEY is the built-in development key, which is public",
            hint="Set DJANGO_SECRET_KEY to a long random value of your own (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`).",
            id="tpfgo_site.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def default_ops_password(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """``manage.py bootstrap`` (``make run``, ``bin/node prepare``) gives a new ``ops`` staff user, who may run
    remediation, the README's password unless TPFGO_OPS_PASSWORD is set."""
    from opsconsole.bootstrap import DEFAULT_OPS_PASSWORD, OPS_USERNAME

    try:
        ops = get_user_model().objects.filter(username=OPS_USERNAME, is_active=True).first()
    except DatabaseError:  # no database to ask (not migrated yet): nothing to say about its users
        return []
    if ops is None or not ops.check_password(DEFAULT_OPS_PASSWORD):
        return []
    return [
        checks.Warning(
            f"the ops console user {OPS_USERNAME!r} logs in with the public default password",
            hint="Set TPFGO_OPS_PASSWORD to a password of your own and run `manage.py bootstrap` again, or change "
            "the password in the console (bootstrap keeps it while TPFGO_OPS_PASSWORD is unset).",
            id="tpfgo_site.W002",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def simulated_payment_gateway(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The default gateway approves by token name and charges no one (docs/chain.md's gateway table)."""
    from checkout.payments import SimulatedGateway

    try:
        gateway = import_string(settings.TPFGO_PAYMENT_GATEWAY)
    except ImportError:
        return []  # the gateway's own import error is the app's to report
    if not (isinstance(gateway, type) and issubclass(gateway, SimulatedGateway)):
        return []
    return [
        checks.Warning(
            f"TPFGO_PAYMENT_GATEWAY is the simulator ({settings.TPFGO_PAYMENT_GATEWAY}): orders are approved "
            "by their token's name and nobody is charged",
            hint="Set TPFGO_PAYMENT_GATEWAY to your payment provider's gateway class.",
            id="tpfgo_site.W003",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def error_sink_in_clear(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The remote error sink sends its token (and every entry) with each forward: over http:// or grpc:// to
    another host, anyone on the path reads them (https:// and grpcs:// encrypt them)."""
    url = str(getattr(settings, "TPFGO_ERROR_SINK_URL", ""))
    parts = urlsplit(url)
    if not settings.TPFGO_ERROR_SINK_TOKEN or parts.scheme not in ("http", "grpc") or parts.hostname in LOOPBACK:
        return []
    return [
        checks.Warning(
            f"TPFGO_ERROR_SINK_URL sends the error-sink token and the entries in clear to {parts.hostname}",
            hint="Forward over https:// (REST) or grpcs:// (gRPC over TLS; TPFGO_ERROR_SINK_CA_FILE for a private CA).",
            id="tpfgo_site.W004",
        )
    ]


@checks.register(checks.Tags.security)
def error_sink_ca_file(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """``https://`` and ``grpcs://`` forwards trust only ``TPFGO_ERROR_SINK_CA_FILE``'s certificates when it is set:
    a file that cannot be read, or holds no PEM certificate, fails every forward, and each entry is then recorded by
    the fallback sinks alone (``pipelines.failures.sinks.RemoteSink``)."""
    path = str(getattr(settings, "TPFGO_ERROR_SINK_CA_FILE", ""))
    if not path:
        return []
    try:
        ssl.create_default_context(cafile=path)  # what requests and the gRPC channel would read: PEM certificates
    except (OSError, ssl.SSLError) as exc:
        return [
            checks.Warning(
                f"TPFGO_ERROR_SINK_CA_FILE cannot be used ({path}: {exc}): every https:// or grpcs:// forward to the "
                "central error sink fails, and each entry is recorded by the fallback sinks only",
                hint="Point TPFGO_ERROR_SINK_CA_FILE at a PEM file of the central sink's root certificates that this "
                "process can read, or unset it to trust the system's.",
                id="tpfgo_site.W005",
            )
        ]
    return []


def grpc_in_clear(address: str) -> list[checks.CheckMessage]:
    """A gRPC server on ``address`` (``host:port``) without TLS to other hosts: every token and message a client
    sends it crosses the network in clear. A loopback address or a local socket (``unix:``) reaches this host only."""
    if getattr(settings, "TPFGO_GRPC_TLS_CERT_FILE", "") and getattr(settings, "TPFGO_GRPC_TLS_KEY_FILE", ""):
        return []
    host = bind_host(address)
    if host is None or is_loopback(host):
        return []
    return [
        checks.Warning(
            f"the gRPC server serves {address} in clear: tokens and messages from other hosts cross the network "
            "unencrypted",
            hint="Set TPFGO_GRPC_TLS_CERT_FILE and TPFGO_GRPC_TLS_KEY_FILE (its clients then use TLS, grpcs:// for "
            "a central error sink), or bind it to 127.0.0.1 behind a proxy that terminates TLS.",
            id="tpfgo_site.W006",
        )
    ]


def bind_host(address: str) -> str | None:
    """The host of a gRPC bind address (empty: every interface), None for a local socket."""
    if address.startswith("unix"):  # unix:PATH, unix-abstract:NAME
        return None
    host = address.rpartition(":")[0] if ":" in address else address
    return host.removeprefix("[").removesuffix("]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost, or "" (every interface)
        return False


@checks.register(checks.Tags.security, deploy=True)
def grpc_server_in_clear(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """``bin/node grpc`` serves on ``BIND_HOST``: on another address than loopback without TLS, in clear to the
    network. The server itself says so at start too, for the address it was given (``tpfgo_site.grpc_server``)."""
    return grpc_in_clear(f"{settings.BIND_HOST}:{settings.GRPC_PORT}")


# PostgreSQL's settings that decide what its own server log keeps of an error or a statement, each with the values
# under which it keeps no value, and what it would keep otherwise.
QUIET_SERVER_LOG = {
    "log_error_verbosity": (("terse",), "each error's DETAIL: the row refused, the key in conflict"),
    "log_min_error_statement": (("panic",), "the failing statement, its values bound into the text"),
    "log_statement": (("none", "ddl"), "every write's (mod) or every statement's (all) text, its values included"),
    "log_min_duration_statement": (("-1",), "the text of each statement slower than it, its values included"),
    "log_min_duration_sample": (("-1",), "the text of a sample of the statements slower than it"),
    "log_transaction_sample_rate": (("0",), "the text of every statement of that share of transactions"),
}


@checks.register(checks.Tags.security, deploy=True)
def postgresql_log_keeps_values(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The project withholds what a PostgreSQL error quotes (``pipelines.failures.scrub.database_details``), but the
    server's own log keeps it unless told not to. The settings are read as this project's sessions see them: the
    server's, or a database's or a role's ``ALTER … SET``."""
    if connection.vendor != "postgresql":
        return []  # SQLite keeps no log of its own
    names = list(QUIET_SERVER_LOG)
    try:
        with connection.cursor() as cursor:
            # What SHOW shows; NULL for a setting this server's version does not have.
            cursor.execute("SELECT " + ", ".join(["current_setting(%s, true)"] * len(names)), names)
            row = cursor.fetchone()
    except DatabaseError:  # no server to ask: nothing to say about its log
        return []
    seen = dict(zip(names, row or (), strict=True))
    kept = [
        f"{name} = {value} ({QUIET_SERVER_LOG[name][1]})"
        for name, value in seen.items()
        if value is not None and value not in QUIET_SERVER_LOG[name][0]
    ]
    if not kept:
        return []
    return [
        checks.Warning(
            "PostgreSQL's server log keeps the values the project withholds from its own: " + "; ".join(kept),
            hint="On a server whose log is kept, set log_error_verbosity = terse, log_min_error_statement = panic, "
            "log_statement = none (or ddl), log_min_duration_statement = -1 and no sampling (log_min_duration_sample = "
            "-1, log_transaction_sample_rate = 0) with ALTER SYSTEM, or ALTER DATABASE … SET for this database; or "
            "treat that log as holding personal data.",
            id="tpfgo_site.W007",
        )
    ]

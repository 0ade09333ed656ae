"""gunicorn's logger class for ``make run``: its error and access logs as JSON lines on stdout.

``bin/run`` passes ``--logger-class tpfgo_site.gunicorn_logging.JsonLogger --access-logfile -``. An access line
carries the request's fields (method, path, status, duration) instead of a formatted string, and the
``request_id`` of the request's other lines (with ``trace_id`` and ``span_id`` when tracing is on), which
``tpfgo_site.logs.AccessLineIds`` left in its environ.
"""

from __future__ import annotations

import datetime
import logging
from logging.config import dictConfig
from typing import TYPE_CHECKING, Any

from gunicorn import glogging

from tpfgo_site import logs
from tpfgo_site.logs import logged_query

if TYPE_CHECKING:
    from gunicorn.config import Config
    from gunicorn.http.message import Request
    from gunicorn.http.wsgi import Response


class JsonLogger(glogging.Logger):
    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        # dictConfig replaces the handlers gunicorn just attached (plain text) on both loggers.
        dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"json": logs.json_formatter()},
                "handlers": {"json": logs.json_handler("stdout")},
                "loggers": {
                    "gunicorn.error": {"handlers": ["json"], "level": cfg.loglevel.upper(), "propagate": False},
                    "gunicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
                },
            }
        )

    def access(self, resp: Response, req: Request, environ: dict[str, Any], request_time: datetime.timedelta) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict or self.cfg.syslog):
            return
        wsgi = environ  # the request's WSGI environ, not the process environment
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        self.access_log.log(
            logging.INFO,
            "http.access",
            extra={
                **wsgi.get(logs.ACCESS_IDS, {}),  # request_id (trace_id, span_id): the request's other lines
                "method": wsgi.get("REQUEST_METHOD"),
                "path": wsgi.get("PATH_INFO"),
                "query": logged_query(wsgi.get("QUERY_STRING") or ""),
                "status": int(status),
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "remote_addr": wsgi.get("REMOTE_ADDR"),
                "user_agent": wsgi.get("HTTP_USER_AGENT"),
            },
        )

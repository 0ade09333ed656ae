"""WSGI entry point (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

from pipelines import closable, refuse_to_start_if_broken
from tpfgo_site.stream_gates import open_gates

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
# A streaming route may ask the server to close the connection after its answer (pipelines.close_connection).
application = closable(get_wsgi_application())
# A broken composition refuses to start: the handoff contract checks run at the start of every process.
refuse_to_start_if_broken("the web process (WSGI)")
open_gates()  # its streams' admission gauges are scraped from the start

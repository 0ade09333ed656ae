"""Root URLs: the API, health endpoints and the ops console (the only admin site mounted)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.static import serve

from opsconsole.site import ops_site
from pipelines import ErrorSinkEntriesView, SubscriptionAckView, SubscriptionStreamView, metrics_view
from tpfgo_site import health


def probe(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """A probe's or a scraper's route: GET and HEAD only (405 for another method, not the CSRF check's HTML 403)."""
    return csrf_exempt(require_safe(view))


urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", probe(health.healthz), name="healthz"),
    path("readyz", probe(health.readyz), name="readyz"),
    path("metrics", probe(metrics_view), name="metrics"),
    # This instance as the central error sink of others (pipelines.failures.sinks.RemoteSink).
    path("api/v1/error-sink/entries", ErrorSinkEntriesView.as_view(), name="api-error-sink-entries"),
    # Remote subscription: another service follows a publication from a log position
    # (pipelines.transport.subscriptions).
    path("api/v1/subscriptions/stream", SubscriptionStreamView.as_view(), name="api-subscription-stream"),
    path("api/v1/subscriptions/ack", SubscriptionAckView.as_view(), name="api-subscription-ack"),
    # The search lane (docs/lanes.md), a second domain on the same engine.
    path("api/v1/", include("search.api.urls")),
    path("api/v1/", include("checkout.api.urls")),
    # FTGO's own clients, unchanged: FTGO's routes and bodies over the same services (docs/ftgo.md).
    path("ftgo/", include("ftgo.urls")),
    path("ops/", ops_site.urls),
]

if settings.TPFGO_SERVE_STATIC:
    # One machine, no proxy in front: the app serves the collected admin assets itself.
    prefix = settings.STATIC_URL.strip("/")
    urlpatterns.append(re_path(rf"^{prefix}/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}))

# Unknown /api/ and /ftgo/ paths, requests Django refuses before any view (a bad Host header, say) and server
# errors answer with the JSON error envelope (other paths: Django's pages).
handler400 = "checkout.api.errors.bad_request"
handler404 = "checkout.api.errors.not_found"
handler500 = "checkout.api.errors.server_error"

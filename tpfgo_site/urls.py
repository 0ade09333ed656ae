"""Root URLs: the API, health endpoints and the ops console (the only admin site mounted)."""

from django.urls import path

from opsconsole.site import ops_site
from tpfgo_site import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("ops/", ops_site.urls),
]

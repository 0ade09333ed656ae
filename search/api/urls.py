"""``/api/v1/search`` routes (mounted under ``/api/v1/`` by the root URLconf)."""

from __future__ import annotations

from django.urls import URLPattern, path

from search.api import views

urlpatterns: list[URLPattern] = [
    path("search", views.SearchView.as_view(), name="api-search"),
    path("search/<str:query_id>", views.AnswerView.as_view(), name="api-search-answer"),
]

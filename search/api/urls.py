"""``/api/v1/search`` routes (mounted by the root URLconf)."""

from __future__ import annotations

from django.urls import URLPattern, path

from search.api import views

urlpatterns: list[URLPattern] = [
    path("", views.SearchView.as_view(), name="api-search"),
    path("/<str:query_id>", views.AnswerView.as_view(), name="api-search-answer"),
]

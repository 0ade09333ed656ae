"""Who may do what in the console: staff only; nobody adds, changes or deletes a checkpoint or ledger row."""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from checkout.models import Consumer, Courier
from checkout.order_request.models import OrderRequest
from opsconsole.site import ops_site
from pipelines.models import ErrorSinkEntry, ParkedItem
from pipelines.store.classification import classify
from tests.conftest import all_insert_only_counts
from tests.opsconsole.conftest import OPS_PASSWORD

pytestmark = pytest.mark.django_db


def admin_url(obj, view: str) -> str:
    meta = obj._meta
    args = [] if view in ("add", "changelist") else [obj.pk]
    return reverse(f"ops:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_a_non_staff_user_is_refused_everywhere(client, dead_order):
    get_user_model().objects.create_user("visitor", password=OPS_PASSWORD)
    # The login form itself refuses a non-staff account.
    response = client.post(reverse("ops:login"), {"username": "visitor", "password": OPS_PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    client.force_login(get_user_model().objects.get(username="visitor"))
    entry = ErrorSinkEntry.objects.first()
    for url in (
        reverse("ops:index"),
        reverse("ops:lineage", args=[dead_order]),
        reverse("ops:error_groups"),
        f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}",
        admin_url(entry, "change"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("ops:login")), url
    before = all_insert_only_counts()
    response = client.post(reverse("ops:remediation", args=["redrive"]), {"order": dead_order, "reason": "x"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("ops:login"))
    assert all_insert_only_counts() == before


@pytest.mark.parametrize("who", ["ops", "superuser"])
def test_crafted_posts_cannot_add_change_or_delete_checkpoints_or_ledgers(client, dead_order, ops_user, who):
    user = ops_user if who == "ops" else get_user_model().objects.create_superuser("root", password=OPS_PASSWORD)
    client.force_login(user)
    request = OrderRequest.objects.get(order_id=dead_order)
    entry = ErrorSinkEntry.objects.filter(trace_id=dead_order).first()
    parked = ParkedItem.objects.get(trace_id=dead_order)
    before = all_insert_only_counts()
    for obj in (request, entry, parked):
        assert client.post(admin_url(obj, "add"), {"id": "x"}).status_code == 403
        assert client.post(admin_url(obj, "change"), {"trace_id": str(obj.pk)}).status_code == 403
        assert client.post(admin_url(obj, "delete"), {"post": "yes"}).status_code == 403
        # A bulk action that does not exist is not run either.
        response = client.post(
            admin_url(obj, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk]}
        )
        assert response.status_code in (200, 302)
    assert all_insert_only_counts() == before
    assert OrderRequest.objects.get(order_id=dead_order).request_id == request.request_id


def test_checkpoint_pages_offer_no_add_change_or_delete_control(ops_client, dead_order):
    request = OrderRequest.objects.get(order_id=dead_order)
    changelist = ops_client.get(admin_url(request, "changelist")).content.decode()
    assert admin_url(request, "add") not in changelist
    assert "delete_selected" not in changelist
    detail = ops_client.get(admin_url(request, "change")).content.decode()
    assert 'name="_save"' not in detail and 'name="_continue"' not in detail
    assert admin_url(request, "delete") not in detail
    assert reverse("ops:lineage", args=[dead_order]) in detail


def test_every_checkpoint_and_ledger_model_is_registered_read_only(ops_user):
    request = RequestFactory().get("/ops/")
    request.user = get_user_model().objects.create_superuser("root", password=OPS_PASSWORD)
    kinds = {m: classify(m) for m in apps.get_models()}
    insert_only = [m for m, kind in kinds.items() if kind in ("checkpoint", "ledger")]
    assert insert_only
    for model in insert_only:
        model_admin = ops_site._registry.get(model)
        assert model_admin is not None, f"{model._meta.label} is not in the console"
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert "delete_selected" not in model_admin.get_actions(request)
        assert not model_admin.list_editable
        assert model_admin.show_full_result_count is False


def test_a_staff_user_without_the_remediation_permission_cannot_open_the_confirm_page(client, dead_order):
    staff = get_user_model().objects.create_user("viewer", password=OPS_PASSWORD, is_staff=True)
    client.force_login(staff)
    url = f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}"
    assert client.get(url).status_code == 403
    before = all_insert_only_counts()
    assert client.post(url, {"order": dead_order, "reason": "try"}).status_code == 403
    assert all_insert_only_counts() == before


def test_ops_may_change_a_couriers_availability_but_not_other_reference_data(ops_client, dead_order):
    courier = Courier.objects.get(pk="courier-ann")
    response = ops_client.post(
        admin_url(courier, "change"),
        {"id": courier.pk, "name": courier.name, "available": "on", "completion_mode": courier.completion_mode},
    )
    assert response.status_code == 302
    assert Courier.objects.get(pk="courier-ann").available is True
    consumer = Consumer.objects.get(pk="alice")
    response = ops_client.post(admin_url(consumer, "change"), {"id": "alice", "name": "Mallory", "active": "on"})
    assert response.status_code == 403
    assert Consumer.objects.get(pk="alice").name == consumer.name
    assert ops_client.post(admin_url(courier, "delete"), {"post": "yes"}).status_code == 403
    assert Courier.objects.filter(pk="courier-ann").exists()


def console_screens(dead_order) -> list[str]:
    return [
        reverse("ops:lineage", args=[dead_order]),
        f"{reverse('ops:lineage_of')}?id={dead_order}",
        reverse("ops:error_groups"),
        reverse("ops:pauses"),
        reverse("ops:bulk_run", args=[uuid.uuid4()]),
    ]


def test_a_staff_user_without_the_console_view_permission_sees_none_of_its_screens(client, dead_order):
    staff = get_user_model().objects.create_user("viewer", password=OPS_PASSWORD, is_staff=True)
    client.force_login(staff)
    index = client.get(reverse("ops:index"))
    page = index.content.decode()
    # Django's own index (the models this user may view: none), not the dashboard's figures or its triage bar.
    assert index.status_code == 200 and "admin/index.html" in [t.name for t in index.templates]
    assert 'id="dead-letters"' not in page and str(dead_order) not in page and 'class="ops-nav"' not in page
    assert [client.get(url).status_code for url in console_screens(dead_order)] == [403] * 5

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="opsconsole", codename="view_console"))
    client.force_login(get_user_model().objects.get(pk=staff.pk))
    page = client.get(reverse("ops:index")).content.decode()
    assert 'id="dead-letters"' in page and str(dead_order) in page and 'class="ops-nav"' in page
    # The screens open (a bulk run nobody started is 404); remediation still needs its own permission.
    assert [client.get(url).status_code for url in console_screens(dead_order)] == [200, 302, 200, 200, 404]
    assert client.get(f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}").status_code == 403


def test_an_error_entry_offers_remediation_only_to_who_may_run_it(client, ops_client, dead_order):
    entry = ErrorSinkEntry.objects.filter(trace_id=dead_order).first()
    confirm = reverse("ops:remediation", args=["redrive"])
    assert f'href="{confirm}?order={dead_order}"' in ops_client.get(admin_url(entry, "change")).content.decode()

    viewer = get_user_model().objects.create_user("viewer", password=OPS_PASSWORD, is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="opsconsole", codename="view_console"),
        Permission.objects.get(content_type__app_label="pipelines", codename="view_errorsinkentry"),
    )
    client.force_login(viewer)
    page = client.get(admin_url(entry, "change"))
    assert page.status_code == 200 and "NoCourierAvailable" in page.content.decode()
    assert reverse("ops:remediation", args=["redrive"])[: -len("redrive/")] not in page.content.decode()  # all 403


def test_the_payment_token_on_file_shows_as_its_last_four_characters_but_to_a_superuser(client, ops_client):
    Consumer.objects.create(id="pat", name="Pat", payment_token="tok_live_5f3a9c1e4242")
    pages = (reverse("ops:checkout_consumer_changelist"), reverse("ops:checkout_consumer_change", args=["pat"]))
    for url in pages:
        page = ops_client.get(url).content.decode()
        assert "tok_live_5f3a9c1e4242" not in page and "…4242" in page, url  # before: the token, whole
    root = get_user_model().objects.create_superuser("root", password=OPS_PASSWORD)
    client.force_login(root)  # a superuser manages reference data: sees the token whole, and may change it
    assert 'value="tok_live_5f3a9c1e4242"' in client.get(pages[1]).content.decode()


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example/", "/ops/lineage/of/"])
def test_a_login_goes_to_a_next_page_of_the_console_and_never_to_another_site(client, ops_user, next_url):
    response = client.post(
        f"{reverse('ops:login')}?next={next_url}",
        {"username": ops_user.get_username(), "password": OPS_PASSWORD, "next": next_url},
    )
    # Another site's address is refused (Django's check); it landed on /accounts/profile/, a 404 of no console.
    expected = next_url if next_url.startswith("/ops/") else reverse("ops:index")
    assert (response.status_code, response["Location"]) == (302, expected)

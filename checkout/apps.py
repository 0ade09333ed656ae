from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CheckoutConfig(AppConfig):
    name = "checkout"
    verbose_name = "Checkout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from checkout import derived, tracing, wire_checks
        from pipelines import tracing as engine_tracing

        # Without a traceparent, a request on an order starts its trace with the order's trace id.
        engine_tracing.register_resolver(tracing.order_trace)
        checks.register(derived.check_triggers, checks.Tags.database)
        # A view field its gRPC message lacks would fail every protobuf answer of an order (docs/api.md).
        checks.register(wire_checks.check_answers)
        # SQLite table rebuilds drop triggers: the derived tables' triggers are reinstalled after every migrate.
        post_migrate.connect(derived.after_migrate, dispatch_uid="checkout.derived_tables")

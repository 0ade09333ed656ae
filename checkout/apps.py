from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CheckoutConfig(AppConfig):
    name = "checkout"
    verbose_name = "Checkout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from checkout import derived, personal, tracing, wire_checks
        from pipelines import register_scrubber
        from pipelines import tracing as engine_tracing

        # Without a traceparent, a request on an order starts its trace with the order's trace id.
        engine_tracing.register_resolver(tracing.order_trace)
        # A failed step's message and traceback show a payment token it handed the gateway only as its hint.
        register_scrubber(personal.payment_tokens_to_hide)
        checks.register(derived.check_triggers, checks.Tags.database)
        # A view field its gRPC message lacks would fail every protobuf answer of an order (docs/api.md).
        checks.register(wire_checks.check_answers)
        # SQLite table rebuilds drop triggers: the derived tables' triggers are reinstalled after every migrate.
        post_migrate.connect(derived.after_migrate, dispatch_uid="checkout.derived_tables")

from django.apps import AppConfig


class PaymentReviewResolvedConfig(AppConfig):
    name = "checkout.payment_review_resolved"
    label = "payment_review_resolved"
    default_auto_field = "django.db.models.BigAutoField"

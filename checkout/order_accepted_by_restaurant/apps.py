from django.apps import AppConfig


class OrderAcceptedByRestaurantConfig(AppConfig):
    name = "checkout.order_accepted_by_restaurant"
    label = "order_accepted_by_restaurant"
    default_auto_field = "django.db.models.BigAutoField"

"""``manage.py load_demo``: load the demo restaurants, consumers and couriers, idempotently."""

from django.core.management.base import BaseCommand

from checkout import demo


class Command(BaseCommand):
    help = "Load the demo reference data (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        counts = demo.load()
        self.stdout.write("demo data: " + ", ".join(f"{n} {name}" for name, n in counts.items()))

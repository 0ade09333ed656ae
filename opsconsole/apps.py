from django.apps import AppConfig


class OpsConsoleConfig(AppConfig):
    name = "opsconsole"
    verbose_name = "Ops console"

    def ready(self) -> None:
        from tpfgo_site import checks  # noqa: F401  (registers the site's deployment checks)

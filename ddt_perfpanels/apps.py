from django.apps import AppConfig


class DdtPerfpanelsConfig(AppConfig):
    name = "ddt_perfpanels"
    verbose_name = "Performance panels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ddt_perfpanels import checks  # noqa: F401  (registers the system checks)
        from ddt_perfpanels.recording import db

        db.install()

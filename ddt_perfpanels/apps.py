from django.apps import AppConfig


class DdtPerfpanelsConfig(AppConfig):
    name = "ddt_perfpanels"
    verbose_name = "Performance panels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_started

        from ddt_perfpanels import checks  # noqa: F401  (registers the system checks)
        from ddt_perfpanels.recording import db
        from ddt_perfpanels.recording.context import remove_idle_hooks

        db.install()
        request_started.connect(remove_idle_hooks, dispatch_uid="ddt_perfpanels_idle_hooks")

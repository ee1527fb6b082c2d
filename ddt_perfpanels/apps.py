from django.apps import AppConfig


class DdtPerfpanelsConfig(AppConfig):
    name = "ddt_perfpanels"
    verbose_name = "Performance panels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_started
        from django.db.models.signals import post_save

        from ddt_perfpanels import checks  # noqa: F401  (registers the system checks)
        from ddt_perfpanels.budgets.rollup import forget_saved
        from ddt_perfpanels.models import BudgetViolation, ViolationMetric
        from ddt_perfpanels.recording import db
        from ddt_perfpanels.recording.context import remove_idle_hooks

        db.install()
        request_started.connect(remove_idle_hooks, dispatch_uid="ddt_perfpanels_idle_hooks")
        # A violation saved into a day the dashboard rolled up already.
        for model in (BudgetViolation, ViolationMetric):
            uid = f"ddt_perfpanels_rollup_{model.__name__}"
            post_save.connect(forget_saved, sender=model, dispatch_uid=uid)

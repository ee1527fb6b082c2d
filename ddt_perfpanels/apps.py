from django.apps import AppConfig


class DdtPerfpanelsConfig(AppConfig):
    name = "ddt_perfpanels"
    verbose_name = "Performance panels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save
        from django.test.signals import setting_changed

        from ddt_perfpanels import checks  # noqa: F401  (registers the system checks)
        from ddt_perfpanels.budgets.rollup import forget_saved
        from ddt_perfpanels.models import BudgetViolation, ViolationMetric
        from ddt_perfpanels.panels.base import hide_hooks_in_toolbar_stacks
        from ddt_perfpanels.recording import hooks

        # Patched once; each hook passes straight through outside a capture.
        hooks.install()
        hide_hooks_in_toolbar_stacks()
        setting_changed.connect(hide_hooks_in_toolbar_stacks, dispatch_uid="ddt_perfpanels_hide")
        # A violation saved into a day the dashboard rolled up already.
        for model in (BudgetViolation, ViolationMetric):
            uid = f"ddt_perfpanels_rollup_{model.__name__}"
            post_save.connect(forget_saved, sender=model, dispatch_uid=uid)

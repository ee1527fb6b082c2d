"""The recording engine: the capture state (hooks, records, context variables)
that every panel, the budget middleware and the test helpers share through
``ddt_perfpanels.capture``."""

from ddt_perfpanels.recording.context import Recording, current_recorder, paused

__all__ = ["Recording", "current_recorder", "paused"]

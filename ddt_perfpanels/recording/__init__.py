"""The recording engine: one capture context that every panel, the budget
middleware and the test helpers share."""

from ddt_perfpanels.recording.context import capture, current_recorder, paused

__all__ = ["capture", "current_recorder", "paused"]

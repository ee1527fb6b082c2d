"""The framework shapes whose querysets the application owns without a frame on
the stack: an admin changelist and inline, DRF views and serializers, generic
class-based views."""

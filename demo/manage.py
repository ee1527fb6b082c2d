#!/usr/bin/env python
"""The demo site's manage.py (./scripts/demo runs everything through it)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # ddt_perfpanels from this checkout, whether it is installed or not.
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

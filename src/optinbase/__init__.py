"""Optinbase: the back office of opt-in contact files, multi-tenant."""

import os

# Piccolo finds its engine through this module, wherever the command runs from.
os.environ.setdefault("PICCOLO_CONF", "optinbase.piccolo_conf")

"""Piccolo's CLI looks for this module; the configuration lives in the package
(`optinbase.piccolo_conf`) so the installed `optinbase` command finds it anywhere."""

from optinbase.piccolo_conf import APP_REGISTRY, DB  # noqa: F401

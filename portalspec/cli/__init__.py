"""``portalspec``: the command line, one module per command group over the library."""

from . import authoring, cohorts, definitions, endpoint_test, render, serve, sync  # noqa: F401  (each registers its commands on main)
from .base import main

__all__ = ["main"]

"""``portalspec``: the command line, one module per command group over the library."""

# Each command's module is imported when the command is used (base.COMMANDS), not here.
from .base import main

__all__ = ["main"]

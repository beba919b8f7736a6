"""portalspec: Amplitude cohort-sync integration definitions as checked, compiled YAML.

The pipeline, one module per stage::

    loader (YAML + source map) → schema, checks (validate) → model (Definition)
        → compiler (Integration) → render (Request values) → formats (json, curl, http, har)

``load``/``validate`` check a definition, ``compile`` turns it into an ``Integration`` whose
``render`` yields ``Request`` values; ``load_values`` and ``read_users`` read its inputs.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagnostics import DefinitionError, Diagnostic, InputError, PortalspecError, Severity
    from .inputs import load_values, read_users
    from .integration import Integration, compile
    from .macros import MacroContext, slugify
    from .model import Definition
    from .request import Request
    from .validate import load, validate, variable_table
    from .values import Cohort, Members, User, Values

# What the package exports, and the module each comes from: imported when first used, so that
# ``import portalspec.cli`` (every command's start-up) costs only what the command uses.
_EXPORTS = {
    "DefinitionError": "diagnostics", "Diagnostic": "diagnostics", "InputError": "diagnostics",
    "PortalspecError": "diagnostics", "Severity": "diagnostics", "load_values": "inputs", "read_users": "inputs",
    "Integration": "integration", "compile": "integration", "MacroContext": "macros", "slugify": "macros",
    "Definition": "model", "Request": "request", "load": "validate", "validate": "validate",
    "variable_table": "validate", "Cohort": "values", "Members": "values", "User": "values", "Values": "values",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'portalspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"portalspec.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """``portalspec.validate`` is the function (as it always was), not the submodule of that
    name that importing ``portalspec.validate`` would otherwise set here."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "Definition",
    "DefinitionError",
    "Diagnostic",
    "InputError",
    "Integration",
    "MacroContext",
    "Members",
    "PortalspecError",
    "Request",
    "Severity",
    "User",
    "Values",
    "__version__",
    "compile",
    "load",
    "load_values",
    "read_users",
    "slugify",
    "validate",
    "variable_table",
]

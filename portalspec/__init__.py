"""portalspec: Amplitude cohort-sync integration definitions as checked, compiled YAML.

The pipeline, one module per stage::

    loader (YAML + source map) → schema, checks (validate) → model (Definition)
        → compiler (Integration) → render (Request values) → formats (json, curl, http, har)

``load``/``validate`` check a definition, ``compile`` turns it into an ``Integration`` whose
``render`` yields ``Request`` values; ``load_values`` and ``read_users`` read its inputs.
"""

from .diagnostics import DefinitionError, Diagnostic, InputError, PortalspecError, Severity
from .inputs import load_values, read_users
from .integration import Integration, compile
from .macros import MacroContext, slugify
from .model import Definition
from .request import Request
from .validate import load, validate, variable_table
from .values import Cohort, Members, User, Values

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

"""portalspec: Amplitude cohort-sync integration definitions as checked, compiled YAML.

The pipeline, one module per stage::

    loader (YAML + source map) → schema, checks (validate) → model (Definition)

``load`` and ``validate`` are the entry points; everything a caller needs is exported here.
"""

from .diagnostics import DefinitionError, Diagnostic, InputError, PortalspecError, Severity
from .model import Definition
from .validate import load, validate, variable_table

__version__ = "0.1.0"

__all__ = [
    "Definition",
    "DefinitionError",
    "Diagnostic",
    "InputError",
    "PortalspecError",
    "Severity",
    "__version__",
    "load",
    "validate",
    "variable_table",
]

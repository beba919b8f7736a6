"""The public face of a compiled definition: :class:`Integration`, made by :func:`compile`.

It is the compiled definition (stage 3) with the way into rendering (stage 4):
``integration.bind(values)`` gives the one request builder that render, test, serve and
sync share; ``integration.render(values, users)`` is the whole lifecycle in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .batching import UserInput
from .compiler import CompiledDefinition, compile_endpoints
from .macros import MacroContext
from .model import Definition
from .render import BoundIntegration
from .render import render as _render
from .request import Request
from .values import Cohort, Values


@dataclass(frozen=True)
class Integration(CompiledDefinition):
    """A compiled definition, ready to build requests for any values and users."""

    def bind(self, values: Values, *, context: MacroContext | None = None, reveal_secrets: bool = False,
             cohort: Cohort | None = None) -> BoundIntegration:
        """This integration bound to one destination's ``values``: the request builder.
        Secrets are masked (sentinels recorded in ``Request.masked``) unless ``reveal_secrets``;
        ``cohort`` defaults to the values file's."""
        return BoundIntegration(self, values, context=context, reveal_secrets=reveal_secrets, cohort=cohort)

    def render(self, values: Values, users: Iterable[UserInput] = (), endpoint: str | None = None,
               list_id: str | int | None = None, **options: Any) -> Iterator[Request]:
        """The requests Amplitude would send, in order: create_list (list-based), every entering
        batch, then every leaving batch. See :func:`portalspec.render.render` for ``options``."""
        return _render(self, values, users, endpoint=endpoint, list_id=list_id, **options)


def compile(definition: Definition) -> Integration:  # noqa: A001 - the stage's name
    """Compile a checked definition (from :func:`portalspec.load`) into renderers."""
    return Integration(definition, compile_endpoints(definition))

"""Contracts: a definition against the partner's own OpenAPI description (issue 11).

- :mod:`.load`: read a description from local files (JSON or YAML, 3.0 or 3.1, ``$ref``
  across files, never a remote one) → :class:`~.load.Description`.
- :mod:`.export`: a definition → the OpenAPI 3.1 description its destination must implement.
- :mod:`.draft`: a description's operations → a draft definition, with ``# DECIDE:`` comments.

Imported only by the commands that use it (``check``, ``openapi``, ``init --from-openapi``):
it pulls in openapi-core, which ``portalspec --help`` must not pay for.
"""

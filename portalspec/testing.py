"""Testing senders against a definition's destination, in process.

``running_destination`` serves a definition on a free port in a background thread for the
length of a ``with`` block::

    with running_destination("integration.yaml", "values.yaml", fail_rate=0.2, seed=1) as dest:
        ...send to dest.url...
        assert dest.state()["lists"][0]["size"] == 3

It is also a pytest plugin (entry point ``portalspec``, loaded when portalspec is installed):
the fixture ``portalspec_destination`` is a factory taking the same arguments, each
destination stopped when the test ends. pytest is imported only when present, so this module
stays importable — and ``import portalspec`` never imports it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # imported when used: loading the plugin into every pytest run stays cheap
    from .destination import DefinitionSource, Destination, ValuesSource
    from .serve import DestinationServer


class RunningDestination:
    """A destination being served: its ``url``, and its state and request log."""

    def __init__(self, server: "DestinationServer"):
        self.server = server
        self.destination: "Destination" = server.destination

    @property
    def url(self) -> str:
        return self.server.url

    def state(self) -> dict[str, Any]:
        """What ``GET /_portalspec/state`` answers."""
        return self.destination.state()

    def requests(self) -> list[dict[str, Any]]:
        """What ``GET /_portalspec/requests`` answers."""
        return self.destination.requests()

    def expire_tokens(self) -> dict[str, Any]:
        """OAuth2: what ``POST /_portalspec/expire-tokens`` does (senders must refresh)."""
        return self.destination.expire_tokens()


@contextlib.contextmanager
def running_destination(definition: "DefinitionSource", values: "ValuesSource", *, host: str = "127.0.0.1",
                        port: int = 0, state: str | None = None, log: Callable[[str], None] | None = None,
                        socket_timeout: float | None = None, max_body_bytes: int | None = None,
                        body_timeout: float | None = None, request_log: int | None = None,
                        **faults: Any) -> Iterator[RunningDestination]:
    """Serve ``definition`` (a path, Definition or Integration) with ``values`` (a path or
    Values) until the block ends. ``faults`` are :class:`~portalspec.destination.Faults`
    fields: ``fail_rate``, ``fail_status``, ``retry_after``, ``latency_ms``, ``seed``,
    ``token_uses``. The
    limits default to ``portalspec serve``'s: ``socket_timeout`` (seconds per read or write),
    ``max_body_bytes`` (413 above), ``body_timeout`` (seconds for a whole body, 408 after),
    ``request_log`` (requests kept in the log)."""
    from .destination import BODY_TIMEOUT, MAX_BODY, Faults, build_destination
    from .serve import SOCKET_TIMEOUT, DestinationServer
    from .store import REQUEST_LOG

    destination = build_destination(
        definition, values, state=state, faults=Faults(**faults), log=log,
        max_body_bytes=MAX_BODY if max_body_bytes is None else max_body_bytes,
        body_timeout=BODY_TIMEOUT if body_timeout is None else body_timeout,
        request_log=REQUEST_LOG if request_log is None else request_log)
    try:
        with DestinationServer(destination, host, port,
                               socket_timeout=SOCKET_TIMEOUT if socket_timeout is None else socket_timeout) as server:
            yield RunningDestination(server)
    finally:
        destination.store.close()


try:  # the plugin half: only where pytest is installed
    import pytest
except ImportError:  # pragma: no cover - exercised only without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def portalspec_destination() -> Iterator[Callable[..., RunningDestination]]:
        """A factory: ``portalspec_destination(definition, values, **faults)`` → a running
        destination (``.url``, ``.state()``, ``.requests()``), stopped after the test."""
        with contextlib.ExitStack() as stack:
            yield lambda definition, values, **options: stack.enter_context(
                running_destination(definition, values, **options))


__all__ = ["RunningDestination", "running_destination", "portalspec_destination"]

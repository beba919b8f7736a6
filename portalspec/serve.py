"""Serving a :class:`~portalspec.destination.Destination` over HTTP (werkzeug, threaded).

The network half of ``portalspec serve``: the command runs it in the foreground until
Ctrl-C; :mod:`portalspec.testing` runs it on a free port in a background thread.
"""

from __future__ import annotations

import socket
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .destination import Destination
from .diagnostics import InputError

# How often a background server looks for a stop request: short, so tests stop at once.
_POLL = 0.05
# Seconds a connection may keep the server waiting on one read or write: a client that
# announces a body it does not send (or stops reading) is cut off, and its thread freed.
SOCKET_TIMEOUT = 5.0


class _QuietHandler(WSGIRequestHandler):
    """No werkzeug log lines: the destination logs one line per request through its callback."""

    def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002 - werkzeug's name
        pass


class DestinationServer:
    """A destination listening on ``host:port`` (port 0: a free one, see :attr:`url`)."""

    def __init__(self, destination: Destination, host: str = "127.0.0.1", port: int = 0, *,
                 socket_timeout: float = SOCKET_TIMEOUT):
        if socket_timeout <= 0:
            raise InputError(f"the socket timeout must be more than 0 seconds, not {socket_timeout:g}")
        self.destination = destination
        self.socket_timeout = socket_timeout
        # Bound here, not by make_server: werkzeug reports a bind error by printing and calling
        # sys.exit, which a library must not do. It serves a socket it is given (fd) as is.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        try:
            # A handler class per server: socketserver applies its ``timeout`` to each
            # connection (every read and write), werkzeug turns a timeout into a closed one.
            handler = type("_Handler", (_QuietHandler,), {"timeout": socket_timeout})
            self._server: BaseWSGIServer = make_server(host, port, destination, threaded=True,
                                                       request_handler=handler, fd=listener.fileno())
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until interrupted (werkzeug turns Ctrl-C into a clean return and closes)."""
        self._server.serve_forever()

    def start(self) -> "DestinationServer":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": _POLL},
                                        name=f"portalspec-serve-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "DestinationServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Listening on 127.0.0.1: a free TCP port, and servers that take a burst of connections as real ones do."""
from __future__ import annotations

import socket
import socketserver
from http.server import ThreadingHTTPServer


def free_port() -> int:
    """A port nothing listens on now. The kernel may hand it out again once the probe closes,
    so start the server soon; a clash shows as the server failing to bind, not as a wrong peer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# socketserver listens with a backlog of 5. A delivery worker opens 16 connections at once, and
# two workers 32: the connections past the backlog waited a second for the kernel to retry their
# handshake, which the first batch of every fan-out paid (1.06 s against 0.12 s for the next
# one). A push service or an API provider keeps a long queue of connections waiting to be
# accepted; so do these.
BACKLOG = 128


class BurstHTTPServer(ThreadingHTTPServer):
    request_queue_size = BACKLOG


class BurstTCPServer(socketserver.ThreadingTCPServer):
    request_queue_size = BACKLOG

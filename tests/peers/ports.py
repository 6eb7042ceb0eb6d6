"""A free TCP port on 127.0.0.1, for a server the tests or a benchmark start and must name first."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now. The kernel may hand it out again once the probe closes,
    so start the server soon; a clash shows as the server failing to bind, not as a wrong peer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

"""An outbound HTTPS proxy on 127.0.0.1 (HTTP CONNECT), for servers that run the production config.

Production sends Web Push only to the push services' public host names over https
(app/notifications/push_endpoints.py; the loopback test exemption is refused there). Behind an
outbound proxy (``HTTPS_PROXY``) the proxy resolves those names: this one sends each tunnel
for a name in ``routes`` to a local port, where a test peer answers with a certificate for
that name (the app trusts it through ``REQUESTS_CA_BUNDLE``). A tunnel to any other name is
refused with 403 and recorded in ``refused``.
"""
from __future__ import annotations

import socket
import socketserver
import threading

from tests.peers.ports import BurstTCPServer


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ConnectProxy:
    def __init__(self, routes: dict[str, int]) -> None:
        """``routes``: ``host:port`` as CONNECT names it -> the local port the tunnel goes to."""
        self.routes = dict(routes)
        self.tunnels: list[str] = []
        self.refused: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            rbufsize = 0  # nothing past the request's headers may be read: that is the client's TLS

            def handle(self) -> None:
                line = self.rfile.readline(8192).decode("latin-1").split()
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                target = line[1] if len(line) == 3 and line[0] == "CONNECT" else None
                port = proxy.routes.get(target or "")
                if port is None:
                    proxy.refused.append(" ".join(line))
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
                upstream.settimeout(None)
                proxy.tunnels.append(target)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
                back.start()
                _pipe(self.connection, upstream)
                back.join()
                upstream.close()

        self.server = BurstTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="connect-proxy", daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

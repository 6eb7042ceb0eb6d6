"""A real S3-compatible server for the tests: moto's standalone server (``moto[server]``),
started as a subprocess on a free port of 127.0.0.1, and a proxy in front of it that can
be told to refuse (the way a bucket answers AccessDenied or 5xx, or an endpoint that
stops answering).

``start_s3_server() -> (url, stop)`` is a plain function so that tests which start
their own processes (the fleet) can share it; ``s3_server`` is the session fixture.
moto enforces S3's rules that matter here: parts of at least 5 MiB but the last
(EntityTooSmall otherwise), ETags per part, Range reads, aborts.
"""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.peers.ports import free_port

CREDENTIALS = {"S3_ACCESS_KEY_ID": "porchlight-test", "S3_SECRET_ACCESS_KEY": "porchlight-test-secret",
               "S3_REGION": "us-east-1"}


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
        connection.close()
        return True
    except OSError:
        return False


def start_s3_server(timeout: float = 30.0) -> tuple[str, Callable[[], None]]:
    """moto's S3 server on a free port: (its URL, a function that stops it)."""
    port = free_port()
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    deadline = time.monotonic() + timeout
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"moto's S3 server did not start on {url} (is moto[server] installed?)")
        time.sleep(0.05)
    return url, stop


def s3_client(url: str):
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name=CREDENTIALS["S3_REGION"],
                        aws_access_key_id=CREDENTIALS["S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["S3_SECRET_ACCESS_KEY"])


def new_bucket(url: str) -> str:
    """A fresh, empty bucket on the server at ``url``."""
    name = f"porchlight-{uuid.uuid4().hex[:16]}"
    s3_client(url).create_bucket(Bucket=name)
    return name



def settings(url: str, bucket: str, prefix: str = "clips", **extra) -> dict:
    """App settings that keep clips in ``bucket`` on the server at ``url``."""
    return {"STORAGE_URL": f"s3://{bucket}/{prefix}", "S3_ENDPOINT_URL": url, **CREDENTIALS,
            "S3_PART_SIZE": 5 * 1024 * 1024, "S3_MAX_ATTEMPTS": 1, "S3_TIMEOUT_SECONDS": 5, **extra}


class RefusingProxy:
    """An HTTP proxy to the S3 server that passes requests through until told to refuse.

    ``refuse("AccessDenied", 403)`` answers S3's error document for every request (or only
    for writes: ``writes_only=True``); ``refuse(None)`` drops the connection, as an
    unreachable endpoint does; ``allow()`` passes requests through again.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.refusal: tuple[str | None, int, bool] | None = None
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                refusal = proxy.refusal
                if refusal is not None and (not refusal[2] or self.command in ("PUT", "POST", "DELETE")):
                    proxy.refused += 1
                    code, status, _ = refusal
                    if code is None:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    document = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                                f"<Message>Refused by the test's proxy</Message></Error>").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(document)))
                    self.end_headers()
                    self.wfile.write(document)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a connection it hung up on purpose, or one the client dropped

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def refuse(self, code: str | None = "AccessDenied", status: int = 403, *, writes_only: bool = False) -> None:
        self.refusal = (code, status, writes_only)

    def allow(self) -> None:
        self.refusal = None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The URL of moto's S3 server, one per test session (per xdist worker)."""
    url, stop = start_s3_server()
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def s3_bucket(s3_server) -> str:
    return new_bucket(s3_server)


@pytest.fixture
def refusing_proxy(s3_server) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(s3_server)
    try:
        yield proxy
    finally:
        proxy.close()

"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, STARTTLS on a certificate made
here with AUTH PLAIN for one user (or TLS from the first byte, without AUTH), every message kept.

The app's mailer talks to it exactly as to a provider's server: ``smtp://USER:PASSWORD@
127.0.0.1:PORT`` with MAIL_TLS_CA_FILE trusting this certificate. Addresses can be made
to fail: ``refuse(address, 550)`` answers RCPT with a permanent refusal, 451 a temporary
one. ``connections`` counts the TCP connections messages came over (reuse shows there).
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.peers.ports import free_port
from tests.peers.tls import certificate

USER, PASSWORD = "porchlight", "smtp-test-password"


@dataclass(frozen=True)
class Received:
    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage
    peer: tuple  # (address, port) of the connection it came over

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None


class _Handler:
    def __init__(self, server: LocalSmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.server.refusals.get(address.lower())
        left = self.server.refusals_left.get(address.lower())
        if code and left is not None:
            if left <= 1:
                del self.server.refusals[address.lower()], self.server.refusals_left[address.lower()]
            else:
                self.server.refusals_left[address.lower()] = left - 1
        if code:
            return f"{code} {'5.1.1 no such mailbox' if code >= 500 else '4.3.0 try again later'}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.server.data_delay:
            await asyncio.sleep(self.server.data_delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.server._keep(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message, tuple(session.peer)))
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    # handled=False: aiosmtpd then answers a failure with 535 itself (its default assumes we did).
    return AuthResult(success=ok, handled=False)


class LocalSmtpServer:
    """``with LocalSmtpServer(tmp_path) as smtp:`` … ``smtp.url``, ``smtp.ca_file``, ``smtp.received``."""

    def __init__(self, directory: Path, *, implicit_tls: bool = False, starttls: bool = True) -> None:
        self.cert, key = certificate(directory / "smtp-tls")
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(self.cert, key)
        self.implicit_tls = implicit_tls
        self.received: list[Received] = []
        self.refusals: dict[str, int] = {}
        self.refusals_left: dict[str, int] = {}
        # Seconds the server takes to accept a message's data (a slow or distant relay).
        self.data_delay = 0.0
        self._changed = threading.Condition()
        # PLAIN only: after a refused PLAIN, smtplib retries with LOGIN and an initial response,
        # which aiosmtpd does not take (the two would wait on each other until a timeout).
        options = dict(authenticator=_authenticator, auth_required=True, auth_require_tls=True,
                       auth_exclude_mechanism=["LOGIN"])
        if implicit_tls:
            # TLS from the first byte, no AUTH (aiosmtpd offers AUTH only after STARTTLS).
            options = dict(ssl_context=self._tls)
        elif starttls:
            options.update(tls_context=self._tls, require_starttls=True)
        else:  # a server offering no STARTTLS: the app must refuse to send to it
            options = {}
        self.port = free_port()  # aiosmtpd checks it is up by connecting to the port it was given
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> LocalSmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    @property
    def url(self) -> str:
        if self.implicit_tls:
            return f"smtps://127.0.0.1:{self.port}"
        return f"smtp://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.cert)

    def settings(self) -> dict[str, str]:
        """The app settings that send here."""
        return {"MAIL_URL": self.url, "MAIL_TLS_CA_FILE": self.ca_file,
                "MAIL_FROM": "Riverside Police via Porchlight <porchlight@riverside.example.gov>"}

    def refuse(self, address: str, code: int, times: int | None = None) -> None:
        """Refuse mail to ``address`` with ``code``: always, or the next ``times`` tries."""
        self.refusals[address.lower()] = code
        if times is not None:
            self.refusals_left[address.lower()] = times

    @property
    def connections(self) -> int:
        return len({r.peer for r in self.received})

    def _keep(self, received: Received) -> None:
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} of {count} e-mails arrived in {timeout} s")
                self._changed.wait(left)
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address.lower() in (a.lower() for a in r.recipients)]

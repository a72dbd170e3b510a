"""TLS for the backends: the server-side context every TLS listener uses.

TLS wraps the transport; the protocol cores do not change. asyncio and uvloop use the
loop's own TLS; the trio backend runs a sans-IO ``ssl.SSLObject`` inside its transport.
Both take a :class:`TLSListener`: the context to wrap accepted connections with, and how
long a client has to complete the handshake.

Certificate rotation: the listener's ``context`` keeps its identity for the server's
lifetime; :meth:`TLSListener.reload` builds a new context from the files and makes it
``current``, and the listener context's SNI callback (which OpenSSL calls on every
ClientHello, with ``server_name`` None when the client sent no SNI) moves each new
connection onto ``current`` (``ssl_object.context = current``). A connection already
established keeps the context it was made with.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastcorn.asgi.tls import SERVER_CERT_ATTR
from fastcorn.errors import ConfigError

if TYPE_CHECKING:
    from fastcorn.config import TLSSettings

logger = logging.getLogger("fastcorn.error")

# What a client that speaks plain HTTP to a TLS port gets (nginx's answer), then a close.
PLAIN_HTTP_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 45\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"The plain HTTP request was sent to HTTPS port"
)

# The first byte of every TLS connection: a TLS record of type handshake (ClientHello).
TLS_HANDSHAKE_RECORD = 0x16

# The ALPN protocols offered by default, most preferred first; the server passes
# fastcorn.protocol.negotiate.alpn_protocols (h2 first when HTTP/2 is on).
ALPN_PROTOCOLS: tuple[str, ...] = ("http/1.1",)

CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
             "required": ssl.CERT_REQUIRED}
MIN_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class TLSFiles:
    """What a context is built from (the ``[tls]`` settings); rebuilt from on rotation."""

    certfile: str
    keyfile: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    cert_reqs: str = "none"
    ciphers: str = ""  # empty: Python's default cipher list
    min_version: str = "TLSv1.2"
    alpn: tuple[str, ...] = ALPN_PROTOCOLS


class _NoPassword(Exception):
    pass


def _read_text(path: str, flag: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("ascii", "replace")
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None


def build_context(files: TLSFiles) -> ssl.SSLContext:
    """A server context from ``files``; ConfigError naming the option and the file."""
    cert_text = _read_text(files.certfile, "--ssl-certfile")
    match = _PEM_CERT.search(cert_text)
    if match is None:
        raise ConfigError(f"--ssl-certfile: no PEM certificate in {files.certfile}")
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:  # parses every certificate of the file, so a bad one is blamed on the certfile
        probe.load_verify_locations(cadata="\n".join(_PEM_CERT.findall(cert_text)))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"--ssl-certfile: {files.certfile} holds an invalid certificate "
            f"({exc.reason or exc})") from None
    keyfile = files.keyfile or files.certfile
    key_flag = "--ssl-keyfile" if files.keyfile else "--ssl-certfile"
    _read_text(keyfile, key_flag)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    asked = []

    def password() -> str:
        asked.append(True)
        if files.password is None:
            raise _NoPassword
        return files.password

    try:
        context.load_cert_chain(files.certfile, files.keyfile, password=password)
    except _NoPassword:
        raise ConfigError(f"{key_flag}: the private key in {keyfile} is encrypted: give "
                          f"--ssl-keyfile-password") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"{key_flag}: the private key in {keyfile} does not match the "
                              f"certificate in {files.certfile}") from None
        if asked:
            raise ConfigError(f"--ssl-keyfile-password: wrong password for the private key "
                              f"in {keyfile}") from None
        raise ConfigError(f"{key_flag}: no usable private key in {keyfile} "
                          f"({exc.reason or exc})") from None
    context.minimum_version = MIN_VERSIONS[files.min_version]
    if files.ciphers:
        try:
            context.set_ciphers(files.ciphers)
        except ssl.SSLError:
            raise ConfigError(f"--ssl-ciphers: no cipher matches {files.ciphers!r}") from None
    context.verify_mode = CERT_REQS[files.cert_reqs]
    if files.ca_certs:
        _read_text(files.ca_certs, "--ssl-ca-certs")
        try:
            context.load_verify_locations(cafile=files.ca_certs)
        except ssl.SSLError as exc:
            raise ConfigError(f"--ssl-ca-certs: no usable CA certificate in {files.ca_certs} "
                              f"({exc.reason or exc})") from None
    elif files.cert_reqs != "none":
        raise ConfigError(f"--ssl-cert-reqs: {files.cert_reqs} needs --ssl-ca-certs, the CA "
                          "certificates client certificates are checked against")
    context.set_alpn_protocols(list(files.alpn))
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    # The ASGI tls extension's server_cert (fastcorn/asgi/tls.py; SSLObject cannot tell).
    setattr(context, SERVER_CERT_ATTR, match.group(0).replace("\r\n", "\n") + "\n")
    return context


def _stamp(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass
class TLSListener:
    """What a backend needs to serve TLS on a listener."""

    #: Server-side context: certificate, verification, ALPN, versions. Accepted connections
    #: are wrapped with it; certificate rotation swaps the certificate inside it (its SNI
    #: callback), so a backend holds this one object for the server's lifetime.
    context: ssl.SSLContext
    #: Seconds from accept to a completed handshake (a silent client is cut after it).
    handshake_timeout: float = 10.0
    #: The files the context was built from (None: no rotation, a context given as is).
    files: TLSFiles | None = None
    #: The context new connections get: ``context`` until a rotation replaces it.
    current: ssl.SSLContext = field(init=False)
    _stamps: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.current = self.context
        self._stamps = self._file_stamps()
        self.context.sni_callback = self._select_context

    @classmethod
    def from_files(cls, files: TLSFiles, handshake_timeout: float = 10.0) -> TLSListener:
        return cls(build_context(files), handshake_timeout, files)

    def _select_context(self, ssl_object: Any, server_name: str | None,
                        context: ssl.SSLContext) -> None:
        current = self.current
        if current is not context:
            ssl_object.context = current

    def _file_stamps(self) -> Any:
        if self.files is None:
            return None
        return (_stamp(self.files.certfile), _stamp(self.files.keyfile))

    def reload(self, why: str) -> bool:
        """Build a new context from the files for new connections; a broken pair is
        refused with one log line and the old context stays. Returns whether it changed."""
        if self.files is None:
            return False
        self._stamps = self._file_stamps()
        try:
            context = build_context(self.files)
        except ConfigError as exc:
            logger.error("Cannot reload the TLS certificate (%s): %s; keeping the old one.",
                         why, exc)
            return False
        self.current = context
        logger.info("Reloaded the TLS certificate from %s (%s).", self.files.certfile, why)
        return True

    def check_files(self) -> bool:
        """Reload if the certificate or key file changed (mtime or size) since last seen."""
        if self.files is None or self._file_stamps() == self._stamps:
            return False
        return self.reload("file changed")


def tls_listener(
    settings: TLSSettings, alpn: tuple[str, ...] = ALPN_PROTOCOLS
) -> TLSListener | None:
    """The TLS listener of ``--ssl-*`` (None without --ssl-certfile): its context is built
    and checked now, before anything binds; ConfigError names the option and the file."""
    if settings.certfile is None:
        for flag, value in (("--ssl-keyfile", settings.keyfile),
                            ("--ssl-ca-certs", settings.ca_certs)):
            if value is not None:
                raise ConfigError(f"{flag}: {value} given without --ssl-certfile")
        return None
    files = TLSFiles(
        certfile=settings.certfile, keyfile=settings.keyfile,
        password=settings.keyfile_password, ca_certs=settings.ca_certs,
        cert_reqs=settings.cert_reqs, ciphers=settings.ciphers,
        min_version=settings.min_version, alpn=alpn)
    return TLSListener.from_files(files, settings.handshake_timeout)

"""The HTTP/1.1 connection: a protocol core on httptools, compiled.

See h1.pxd for the call flow; the bytes it reads beyond httptools and every byte it
writes come from the wire module (fastcorn/_parser), the scope from fastcorn.asgi.scope.
Rules kept here:
- httptools (llhttp) is the judge of the request syntax; this module adds the checks
  llhttp leaves to the server (head size, transfer codings it cannot serve). A whole
  plain request (feed_simple) is read without it, by a scan that accepts only what
  llhttp accepts and reads it the same way, through the same methods its callbacks call.
- Exceptions raised inside parser callbacks never cross the C boundary: httptools stores
  them and raises HttpParserCallbackError, and ``error_status`` says what to answer.
- Responses leave in request order; the status line, headers and first body chunk go out
  in one write, unless that body is large (COALESCE_LIMIT): then it follows, uncopied.
"""

from collections import deque
from functools import partial as _partial
from contextvars import copy_context as _copy_context

from cpython.contextvars cimport PyContext_Enter, PyContext_Exit
from cpython.object cimport PyObject_Call
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdio cimport snprintf
from libc.string cimport memcpy

from httptools import HttpRequestParser as _HttpRequestParser
from httptools import parse_url as _parse_url
from httptools.parser.errors import (
    HttpParserCallbackError as _HttpParserCallbackError,
    HttpParserError as _HttpParserError,
    HttpParserUpgrade as _HttpParserUpgrade,
)

from fastcorn._parser cimport (
    VERSION_10,
    VERSION_11,
    VERSION_UNKNOWN,
    RequestVersion,
    ResponseFraming,
    SimpleHead,
    chunk,
    encode_fields,
    error_reason,
    error_response,
    find_char,
    informational,
    put,
    same_name,
    scan_request_line,
    scan_response_headers,
    scan_simple_head,
    status_line,
    target_query,
    valid_host,
    write_headers,
)
from fastcorn.asgi.cycle cimport HTTPCycle, ServerState, Stream
from fastcorn.asgi.scope cimport address, http_scope, http_template
from fastcorn.protocol.linger cimport begin_lingering
from fastcorn.asgi.tls import tls_extension
from fastcorn.protocol.base import hand_over as _hand_over

cdef object HttpRequestParser = _HttpRequestParser
cdef object parse_url = _parse_url
cdef object HttpParserError = _HttpParserError
cdef object HttpParserCallbackError = _HttpParserCallbackError
cdef object HttpParserUpgrade = _HttpParserUpgrade
cdef object new_deque = deque
cdef object Partial = _partial
cdef object copy_context = _copy_context
cdef object hand_over = _hand_over

cdef enum:
    # Request body buffered for an app that has not read it yet; past this, reading pauses.
    HIGH_WATER = 256 * 1024
    # Requests parsed and waiting behind the one being answered. Past this the rest of the
    # input stays unparsed (and reading pauses) until the queue drains: a read full of tiny
    # pipelined requests must not become thousands of scopes at once.
    PIPELINE_DEPTH = 32
    # Input is handed to llhttp at most this much at a time, except inside a body of known
    # length, so that the pipeline bound above is checked often enough to mean something.
    SLICE = 4096
    # An answered request's unread body is read and dropped to keep the connection alive
    # when at most this much of it remains; a larger one closes the connection instead.
    DISCARD_LIMIT = 64 * 1024
    # Chunk-size lines (with their extensions) in a row without chunk data: past this, 400.
    FRAMING_LIMIT = 16 * 1024
    # An upgrade request (h2c, websocket) is read whole before the hand-over: its body is
    # held for the next core, so only a body up to this size (Content-Length framed) is
    # upgraded; a larger or chunked one is served as plain HTTP/1.1 (RFC 9110 7.8 lets a
    # server ignore Upgrade).
    UPGRADE_BODY_LIMIT = 1024 * 1024
    # A request body up to this size, whole in the read with its head, is taken with the
    # head by feed_simple; a larger one, or one still to come, is llhttp's to frame.
    SIMPLE_BODY_LIMIT = 64 * 1024
    # A body up to this size leaves in the same write as its head (or chunk-size line),
    # copied into one buffer; a larger one is handed to the transport as it is, after the
    # head: copying it would hold it twice (a 50 MiB body to a slow reader cost 100 MiB).
    # Measured (uvloop and asyncio, TCP loopback, CPU per response): one write saves a
    # send call up to ~16 KiB, the two are even within noise from 24 to 128 KiB, and
    # from 256 KiB the copy costs more than the second write.
    COALESCE_LIMIT = 64 * 1024
    # Such a body is fed to the transport this much at a time, as it drains (write_large):
    # a transport given all of it at once may copy it (asyncio's buffer before Python 3.12,
    # trio's) or encrypt it whole (TLS), which would hold it twice again.
    FEED_PIECE = 256 * 1024
    # What waits for a held body to be written whole (after_held).
    AFTER_HELD_NOTHING = 0
    AFTER_HELD_LINGER = 1
    AFTER_HELD_CLOSE = 2

cdef str S_HTTP = "http"
cdef str S_HTTPS = "https"
cdef str V_11 = "1.1"
cdef str V_10 = "1.0"
cdef bytes EMPTY = b""
cdef bytes CRLF = b"\r\n"
cdef bytes LAST_CHUNK = b"0\r\n\r\n"
cdef bytes CRLF_LAST_CHUNK = b"\r\n0\r\n\r\n"
cdef bytes H_CLOSE = b"connection: close\r\n"
cdef bytes H_KEEP_ALIVE = b"connection: keep-alive\r\n"
cdef bytes H_CHUNKED = b"transfer-encoding: chunked\r\n"
cdef bytes H_CONTENT_LENGTH = b"content-length: "
cdef bytes H_HOST = b"host"
# Field names as scope["headers"] gives them (lowercase), shared by every request that
# sends them: a known name costs no lowered copy (bytes.lower() and, later, its free).
cdef bytes H_TRANSFER_ENCODING = b"transfer-encoding"
cdef bytes H_CONTENT_LENGTH_NAME = b"content-length"
cdef bytes H_UPGRADE = b"upgrade"
cdef bytes H_EXPECT = b"expect"
cdef bytes H_ACCEPT = b"accept"
cdef bytes H_CONNECTION = b"connection"
cdef bytes H_USER_AGENT = b"user-agent"
cdef bytes H_CONTENT_TYPE = b"content-type"
cdef bytes H_ACCEPT_ENCODING = b"accept-encoding"
# A stand-in head that makes llhttp frame the body of a request it skipped as an upgrade.
cdef bytes SYNTHETIC_HEAD = b"POST / HTTP/1.1\r\n"
# What an HTTP/2 client with prior knowledge sends first (RFC 9113 3.4). A connection whose
# first bytes are "PRI " goes to the HTTP/2 core, which judges the rest of the preface.
cdef bytes PREFACE_START = b"PRI "

cdef dict METHODS = {m.encode(): m for m in (
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")}
cdef str M_HEAD = METHODS[b"HEAD"]
cdef str M_CONNECT = METHODS[b"CONNECT"]
cdef str M_GET = METHODS[b"GET"]
cdef str M_POST = METHODS[b"POST"]


cdef inline object common_method(const char* p, Py_ssize_t n):
    """GET and POST, told by their bytes: no bytes object made and no hash taken for the
    two methods most requests use (~500 instructions per request, callgrind, 3.13)."""
    if n == 3 and p[0] == b'G' and p[1] == b'E' and p[2] == b'T':
        return M_GET
    if n == 4 and p[0] == b'P' and p[1] == b'O' and p[2] == b'S' and p[3] == b'T':
        return M_POST
    return None


# The server-wide default headers (Date, Server) as wire bytes, encoded once per new list
# (the server's tick makes one a second) rather than per response.
cdef object defaults_source = None
cdef bytes defaults_wire = EMPTY


cdef inline bytes wire_defaults(ServerState state):
    global defaults_source, defaults_wire
    fields = state.default_headers
    if fields is not defaults_source:
        defaults_wire = encode_fields(fields)
        defaults_source = fields
    return defaults_wire


cdef inline bytes common_name(const char* p, Py_ssize_t n):
    """A field name many requests send, as its shared lowercase bytes; else None."""
    if n == 6:
        if same_name(p, "accept", 6):
            return H_ACCEPT
    elif n == 10:
        if same_name(p, "user-agent", 10):
            return H_USER_AGENT
        if same_name(p, "connection", 10):
            return H_CONNECTION
    elif n == 12:
        if same_name(p, "content-type", 12):
            return H_CONTENT_TYPE
    elif n == 15:
        if same_name(p, "accept-encoding", 15):
            return H_ACCEPT_ENCODING
    return None


cdef Py_ssize_t content_length_value(bytes value):
    """A Content-Length value of digits; -1 past the largest Py_ssize_t. (int() cost ~370
    instructions a request, callgrind, Python 3.13.)"""
    cdef const char* p = PyBytes_AS_STRING(value)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value), total = 0
    cdef int digit
    for i in range(n):
        digit = p[i] - 48
        if digit < 0 or digit > 9 or total > (PY_SSIZE_T_MAX - digit) // 10:
            return -1
        total = total * 10 + digit
    return total


class ProtocolError(Exception):
    """A request the server answers with an error status (carried in error_status)."""


cdef class H1Cycle(HTTPCycle):
    pass


cdef class H1Connection(Stream):
    def __init__(self, ServerState state, upgrades=None, prior_knowledge=None):
        self.state = state
        self.upgrades = upgrades
        self.prior_knowledge = prior_knowledge
        self.sniffing = prior_knowledge is not None
        self.runtime = state.runtime
        self.spawn = spawn = state.runtime.spawn_eager
        if type(spawn) is Partial and not spawn.args:
            # asyncio's eager Task(coro, loop=..., eager_start=True): called directly, a
            # partial's call costs ~900 instructions per request (callgrind, Python 3.13).
            self.spawn_func = spawn.func
            self.spawn_keywords = spawn.keywords
        self.new_parser()
        self.at_boundary = True
        self.fast_heads = True
        self.pipeline = new_deque()
        self.headers = []
        self.url = EMPTY
        self.timer_kind = TIMER_NONE
        self.scheme = S_HTTP
        self.content_length = -1

    cdef new_parser(self):
        # Bound methods kept as C attributes: a call each, no attribute lookup per request.
        self.persistent = True
        self.parser = parser = HttpRequestParser(self)
        self.feed_data = parser.feed_data
        self.get_method = parser.get_method
        self.get_http_version = parser.get_http_version
        self.should_keep_alive = parser.should_keep_alive

    # -- the transport's side (asyncio.Protocol's names) --------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.transport_write = transport.write
        spawn = self.runtime.spawner(transport)  # for this connection's apps (trio: a runner)
        if spawn is not self.spawn:
            self.spawn = spawn
            self.spawn_func = None  # launch() calls it as it is
        self.client = address(transport.get_extra_info("peername"))
        self.server = address(transport.get_extra_info("sockname"))
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.scheme = S_HTTPS
            self.tls = tls_extension(ssl_object)
        self.scope_template = http_template(self.state, self.client, self.server, self.scheme)
        self.context = copy_context()
        self.state.connections.add(self)
        if self.state.log_connection is not None:
            self.state.log_connection("connection open", self.client)
        if self.state.shutting_down:
            self.close_transport()
            return
        self.arm_timer(TIMER_IDLE, self.state.timeout_keep_alive)

    def connection_lost(self, exc):
        self.closed = True
        self.held = None
        self.queued = None
        self.state.connection_closed(self)
        if self.state.log_connection is not None:
            self.state.log_connection("connection closed", self.client, "" if exc is None else str(exc))
        self.deadline = 0
        self.write_deadline = 0
        self.unparsed = None
        # The parser holds our bound callbacks and we hold it: break the cycle now rather
        # than leave every closed connection to the cyclic garbage collector.
        self.parser = self.feed_data = self.get_method = None
        self.get_http_version = self.should_keep_alive = None
        if self.cycle is not None:
            self.cycle.disconnect()
        if self.parsing is not None and self.parsing is not self.cycle:
            self.parsing.disconnect()
        for waiting in self.pipeline:
            (<H1Cycle>waiting).disconnect()
        self.pipeline.clear()

    def data_received(self, bytes data):
        if self.lingering is not None:
            # Answered and half-closed: drop input until the client's EOF, within a bound.
            self.lingering.drop(PyBytes_GET_SIZE(data))
            return
        if self.error_status or self.closed or self.eof or (self.closing and self.cycle is None):
            return
        if self.sniffing:
            data = self.sniff(data)
            if data is None:
                return
        if self.unparsed is not None:
            # Reading was paused while the pipeline is full; a transport may still deliver
            # what it had already read.
            self.unparsed = (<bytes>self.unparsed)[self.unparsed_pos:] + data
            self.unparsed_pos = 0
            return
        if self.timer_kind == TIMER_BODY and self.deadline:
            self.deadline = self.state.now + self.state.timeout_request_body
        self.feed(data, 0)

    cdef object sniff(self, bytes data):
        """The first bytes of a cleartext connection: an HTTP/2 preface goes to the HTTP/2
        core with everything read so far; returns the bytes to parse as HTTP/1.1, or None."""
        cdef Py_ssize_t n
        if self.sniffed is not None:
            data = self.sniffed + data
            self.sniffed = None
        n = PyBytes_GET_SIZE(data)
        if n < 4 and PREFACE_START.startswith(data):
            self.sniffed = data  # "P", "PR" or "PRI": wait for the byte that tells
            return None
        self.sniffing = False
        if n >= 4 and data.startswith(PREFACE_START):
            self.detach()
            hand_over(self.transport, self.prior_knowledge(), data)
            return None
        return data

    cdef feed(self, bytes data, Py_ssize_t pos):
        """Parse ``data`` from ``pos``, then start the app of a request it completed: only
        once the parser has returned (see launch)."""
        self.parse(data, pos)
        if self.unstarted is not None:
            self.launch()

    cdef parse(self, bytes data, Py_ssize_t pos):
        """Parse ``data`` from ``pos``, a slice at a time, stopping while the pipeline is full."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), size, limit
        cdef bytes part
        while pos < n:
            if self.error_status or self.closed or self.lingering is not None:
                return
            if self.closing and self.cycle is None:
                return  # an app started by launch() answered and closed: take nothing new
            if len(self.pipeline) >= PIPELINE_DEPTH or (
                    self.parsing is not None and self.parsing.body_buffered > HIGH_WATER):
                # The pipeline is full, or the app has not read the body it has: the rest
                # stays unparsed (a read of 2-byte chunks parsed at once would be tens of
                # thousands of objects). Held as the buffer and an offset: resuming copies
                # nothing.
                self.unparsed = data
                self.unparsed_pos = pos
                self.update_reading()
                return
            if self.at_boundary and self.persistent and self.fast_heads:
                size = self.feed_simple(data, pos)
                if size < 0:
                    return  # refused, and answered
                if size > 0:
                    pos += size
                    continue
            size = n - pos
            limit = self.body_remaining if self.body_remaining > 0 else SLICE
            if size > limit:
                size = limit
            part = data if size == n and pos == 0 else data[pos:pos + size]
            try:
                self.feed_slice(part)
            except HttpParserUpgrade as exc:
                # llhttp stopped after the head of a request it takes for an upgrade, and
                # skipped its body. fastcorn upgrades nothing yet: the request is served as
                # plain HTTP, so its declared body is framed as a body, and only what follows
                # that body is the next request (else a body is a smuggled request).
                pos += <Py_ssize_t>exc.args[0] if exc.args else size
                if self.upgrade_pending:
                    self.upgrade_pending = False
                    self.frame_upgrade_body()
                    if self.upgrade_ready and self.finish_upgrade(data, pos):
                        return  # handed over: the rest is the next core's
                else:
                    self.new_parser()
                continue
            except HttpParserError as exc:
                if self.error_status == 0 and isinstance(exc, HttpParserCallbackError):
                    self.parse_bug(exc.__context__ or exc)
                else:
                    self.fail(self.error_status or 400)
                return
            pos += size
            if self.upgrade_ready and self.finish_upgrade(data, pos):
                return
            if self.framing_bytes > FRAMING_LIMIT:
                self.error_reason = "Chunk extensions too long."
                self.fail(400)
                return

    cdef bint feed_slice(self, bytes data) except -1:
        cdef bint was_in_head = self.in_head
        if self.request_chunked and self.parsing is not None and not self.in_head:
            self.framing_bytes += PyBytes_GET_SIZE(data)  # reset by chunk data (on_body)
        if self.at_boundary:
            self.scan_request_line(data)
        self.heads_begun = 0
        self.feed_data(data)
        if self.in_head:
            # httptools buffers an unfinished header line itself and reports it only once
            # complete, so count raw bytes too: one endless header must not grow forever.
            # Only a head that was already open and is still the same one grows by all of it.
            if was_in_head and self.heads_begun == 0:
                self.partial_head += PyBytes_GET_SIZE(data)
                if self.partial_head > self.state.limit_request_head:
                    self.fail(431)
            else:
                self.partial_head = 0
        else:
            self.partial_head = 0
        return 0

    cdef Py_ssize_t feed_simple(self, bytes data, Py_ssize_t pos) except -2:
        """Take a whole plain request at ``pos`` without llhttp: the bytes it used; 0 to
        leave them to llhttp; -1 when the request was refused (and answered).

        Only between messages, and only while llhttp waits for a new one on a persistent
        connection (``persistent``), so llhttp's state is the same whether it saw the
        request or not. scan_simple_head accepts a strict subset of what llhttp accepts;
        the rest here is what llhttp's callbacks would have been given, in their order:
        the same methods run for both, and tests/protocol/test_simple_heads.py checks
        that both give the same answers to the same bytes.
        """
        cdef SimpleHead head
        cdef const char* p = PyBytes_AS_STRING(data) + pos
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data) - pos, used, i
        if not scan_simple_head(p, n, &head):
            return 0
        used = head.length
        if head.content_length > 0:
            if head.content_length > SIMPLE_BODY_LIMIT or n - used < head.content_length:
                return 0  # a body still to come is llhttp's to frame
        method = common_method(p, head.method_end)
        if method is None:
            method = METHODS[PyBytes_FromStringAndSize(p, head.method_end)]
        self.simple_heads += 1
        try:
            self.begin_message()
            self.scanned_method = method
            self.scanned_version = V_11 if head.version == VERSION_11 else V_10
            self.simple_line = (method, self.scanned_version)
            self.take_url(PyBytes_FromStringAndSize(p + head.method_end + 1,
                                                    head.target_end - head.method_end - 1))
            for i in range(head.fields):
                self.take_header(
                    PyBytes_FromStringAndSize(p + head.name_start[i],
                                              head.name_end[i] - head.name_start[i]),
                    PyBytes_FromStringAndSize(p + head.value_start[i],
                                              head.value_end[i] - head.value_start[i]))
            self.headers_complete(True)
            if head.content_length > 0:
                self.take_body(PyBytes_FromStringAndSize(p + used, head.content_length))
                used += head.content_length
            self.message_complete()
        except Exception as exc:
            if self.error_status == 0:
                self.parse_bug(exc)
            else:
                self.fail(self.error_status)
            return -1
        self.partial_head = 0
        return used

    cdef parse_bug(self, BaseException exc):
        """A bug of ours while reading a request: log it, answer 500, never crash the loop."""
        if self.state.error_logger is not None:
            self.state.error_logger.error("Error while parsing a request", exc_info=exc)
        self.fail(500)

    cdef frame_upgrade_body(self):
        cdef bytes framing
        self.new_parser()
        if self.request_chunked:
            framing = H_CHUNKED
        else:
            framing = b"content-length: %d\r\n" % (
                self.content_length if self.content_length > 0 else 0)
        self.synthetic = True
        self.feed_data(SYNTHETIC_HEAD + framing + CRLF)
        self.synthetic = False

    cdef object choose_upgrade(self):
        """The handler for this request's Upgrade, or None to serve it as HTTP/1.1."""
        if (self.upgrades is None or self.cycle is not None or self.pipeline
                or self.held is not None or self.closing or self.request_chunked or self.expect_continue
                or self.content_length > UPGRADE_BODY_LIMIT):
            return None
        for token in self.upgrade.split(b","):
            handler = self.upgrades.get(token.strip(b" \t").lower())
            if handler is not None:
                return handler
        return None

    cdef bint finish_upgrade(self, bytes data, Py_ssize_t pos) except -1:
        """The upgrade request is read whole: ask its handler for the next core and hand the
        connection over with what follows the request (True); or, if the handler declines,
        serve the request as plain HTTP/1.1 and go on parsing (False)."""
        cdef H1Cycle cycle = self.upgrading
        handler = self.upgrade_handler
        self.upgrading = None
        self.upgrade_handler = None
        self.upgrade_ready = False
        body = EMPTY.join(cycle.body_chunks) if cycle.body_chunks is not None else EMPTY
        try:
            core = handler(cycle.scope, body)
        except Exception as exc:
            # A bug in the next core's handler: this request gets a 500, the server lives.
            if self.state.error_logger is not None:
                self.state.error_logger.error("Error while upgrading a connection",
                                              exc_info=exc)
            self.error_status = 500
            self.write_error(500, True)
            return True
        if core is None:
            self.start_cycle(cycle)
            return False
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        self.detach()
        hand_over(self.transport, core,
                  data[pos:] if pos < PyBytes_GET_SIZE(data) else EMPTY)
        return True

    cdef detach(self):
        """This core's last act before a hand-over: it stops its timers, leaves the
        server's connection set and drops its parser; events now go to the next core."""
        self.closed = True
        self.deadline = 0
        self.write_deadline = 0
        self.timer_kind = TIMER_NONE
        self.state.connection_closed(self)
        self.unparsed = None
        self.parser = self.feed_data = self.get_method = None
        self.get_http_version = self.should_keep_alive = None

    def eof_received(self):
        """The client half-closed. True keeps the connection open to finish the answers."""
        if self.lingering is not None or self.closed or self.in_head or self.parsing is not None:
            # Nothing more can complete (a request cut short): close.
            return False
        if self.cycle is None and self.unparsed is None:
            return False
        self.eof = True
        self.deadline = 0
        if self.cycle is not None:
            self.cycle.end_input()
        for waiting in self.pipeline:
            (<H1Cycle>waiting).end_input()
        return True

    def pause_writing(self):
        self.writing_paused = True
        if self.state.timeout_write > 0:
            self.write_deadline = self.state.now + self.state.timeout_write

    def resume_writing(self):
        self.writing_paused = False
        self.write_deadline = 0
        if self.held is not None:
            self.feed_held()
            if self.held is not None or self.writing_paused or self.closed:
                return  # still writing it: the app and the next response wait on
        if self.cycle is not None:
            self.cycle.wake_writer()
        elif self.pipeline and not self.closed:
            self.start_cycle(<H1Cycle>self.pipeline.popleft())
            self.update_reading()
            self.launch()

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self):
        if not self.synthetic:
            self.begin_message()

    def on_url(self, bytes url):
        if not self.synthetic:
            self.take_url(url)

    def on_header(self, bytes name, bytes value):
        if not self.synthetic:
            self.take_header(name, value)

    def on_headers_complete(self):
        if not self.synthetic:
            self.headers_complete(self.should_keep_alive())

    def on_body(self, bytes body):
        self.take_body(body)

    def on_chunk_complete(self):
        self.framing_bytes = 0

    def on_message_complete(self):
        self.message_complete()

    # -- a request, from llhttp's callbacks above or from feed_simple --------------------

    cdef begin_message(self):
        self.at_boundary = False
        self.simple_line = None
        self.in_head = True
        self.heads_begun += 1
        self.url = EMPTY
        self.headers = []
        self.head_size = 0
        self.expect_continue = False
        self.host_count = 0
        self.host = None
        self.upgrade = None
        self.request_chunked = False
        self.content_length = -1
        self.framing_bytes = 0
        if self.cycle is None:
            self.arm_timer(TIMER_HEAD, self.state.timeout_request_head)

    cdef take_url(self, bytes url):
        """The request target, or (from llhttp) the next piece of it."""
        self.head_size += PyBytes_GET_SIZE(url)
        if self.head_size > self.state.limit_request_head:
            self.error_status = 431
            raise ProtocolError(431)
        self.url = url if not self.url else self.url + url

    cdef take_header(self, bytes name, bytes value):
        cdef Py_ssize_t n
        cdef const char* p
        cdef bytes known
        self.head_size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
        if self.head_size > self.state.limit_request_head:
            self.error_status = 431
            raise ProtocolError(431)
        if not self.in_head:
            # A chunked body's trailer field: never part of scope["headers"], where it would
            # pass for a header the front proxy checked (Host, Authorization). Counted
            # against the head limit above, then dropped.
            return
        n = PyBytes_GET_SIZE(value)
        if n and (PyBytes_AS_STRING(value)[n - 1] == b' ' or PyBytes_AS_STRING(value)[n - 1] == b'\t'):
            value = value.rstrip(b" \t")  # trailing whitespace is not part of a field value
        n = PyBytes_GET_SIZE(name)
        p = PyBytes_AS_STRING(name)
        if n == 4 and same_name(p, "host", 4):
            name = H_HOST
            self.host_count += 1
            self.host = value  # llhttp skips the leading whitespace, the trailing is gone
        elif n == 17 and same_name(p, "transfer-encoding", 17):
            name = H_TRANSFER_ENCODING
            # llhttp frames only chunked; any other coding is one we cannot decode (RFC 9112 6.1).
            if value.strip().lower() != b"chunked":
                self.error_status = 501
                raise ProtocolError(501)
            self.request_chunked = True
        elif n == 14 and same_name(p, "content-length", 14):
            name = H_CONTENT_LENGTH_NAME
            # llhttp has checked it is 1*DIGIT, single, and below 2**64.
            self.content_length = content_length_value(value)
            if self.content_length < 0:
                self.error_status = 400  # beyond any body (nginx: invalid Content-Length)
                raise ProtocolError(400)
        elif n == 7 and same_name(p, "upgrade", 7):
            name = H_UPGRADE
            self.upgrade = value
        elif n == 6 and same_name(p, "expect", 6):
            name = H_EXPECT
            if value.strip().lower() == b"100-continue":
                self.expect_continue = True
        else:
            known = common_name(p, n)
            name = name.lower() if known is None else known
        self.headers.append((name, value))

    cdef headers_complete(self, bint keep_alive):
        """The head is read: its cycle is made. ``keep_alive``: what its version and
        Connection field ask (llhttp's should_keep_alive)."""
        cdef ServerState state = self.state
        cdef H1Cycle cycle = H1Cycle.__new__(H1Cycle)
        cycle.init(state, self, self.build_scope(cycle))
        cycle.target = self.url
        self.in_head = False
        cycle.keep_alive = keep_alive and not self.closing
        self.persistent = keep_alive
        cycle.expect_continue = self.expect_continue and not cycle.http10
        self.parsing = cycle
        self.body_remaining = (self.content_length
                               if self.content_length > 0 and not self.request_chunked else 0)
        if self.upgrade is not None and self.parser.should_upgrade():
            self.upgrade_pending = True
            handler = self.choose_upgrade()
            if handler is not None:
                # Read it whole (its body is framed by frame_upgrade_body), then hand over.
                self.upgrade_handler = handler
                self.upgrading = cycle
                self.deadline = 0
                self.timer_kind = TIMER_NONE
                if self.content_length > 0:
                    self.arm_timer(TIMER_BODY, state.timeout_request_body)
                return
            if state.log_connection is not None:
                state.log_connection("upgrade not served", self.client,
                                     self.upgrade.decode("latin-1"))
            if (state.error_logger is not None and self.upgrade.lower() == b"websocket"
                    and (self.upgrades is None or b"websocket" not in self.upgrades)):
                # Once per request, not per connection: an app that routes WebSockets
                # while the server was told not to serve them should hear why they fail.
                state.error_logger.warning(
                    "WebSocket is off (--ws none): the upgrade request for %s is served "
                    "as plain HTTP", self.url.decode("latin-1"))
        if self.cycle is None:
            self.deadline = 0
            self.timer_kind = TIMER_NONE
            if self.content_length > 0 or self.request_chunked:
                self.arm_timer(TIMER_BODY, state.timeout_request_body)
            self.start_cycle(cycle)
        else:
            self.pipeline.append(cycle)
            self.update_reading()

    cdef take_body(self, bytes body):
        cdef H1Cycle cycle = self.parsing
        if self.body_remaining > 0:
            self.body_remaining -= PyBytes_GET_SIZE(body)
        self.framing_bytes = 0
        if cycle is None or cycle.response_complete or cycle.disconnected:
            return  # the app already answered: the rest of the body is read and dropped
        cycle.feed_body(body)
        if cycle.body_buffered > HIGH_WATER and not self.reading_paused:
            self.update_reading()

    cdef message_complete(self):
        cdef H1Cycle cycle = self.parsing
        if self.upgrade_pending:
            return  # llhttp skipped the body: frame_upgrade_body() parses it next
        self.at_boundary = True
        self.scanned_method = None  # a pipelined request behind it is asked of the parser
        self.body_remaining = 0
        self.request_chunked = False
        if self.timer_kind == TIMER_BODY:
            self.deadline = 0
            self.timer_kind = TIMER_NONE
        if cycle is not None:
            cycle.end_body()
            self.parsing = None
        if self.upgrade_handler is not None:
            self.upgrade_ready = True  # the feed loop hands over once the parser returns

    # -- timers ------------------------------------------------------------------------

    cdef arm_timer(self, TimerKind kind, double delay):
        self.timer_kind = kind
        self.deadline = self.state.now + delay if delay > 0 else 0

    def check_timeout(self, double now):
        """Called by the server's once-a-second sweep (so timeouts are precise to ~1 s)."""
        if self.write_deadline and now >= self.write_deadline:
            # The client stopped reading: no progress on a paused transport. Cut it, and
            # let the app's waiting send() see the disconnect.
            self.write_deadline = 0
            self.abort_transport()
            return
        if self.lingering is not None:
            self.lingering.due(now)
            return
        if self.deadline and now >= self.deadline:
            self.deadline = 0
            self.on_timeout(self.timer_kind)

    cdef on_timeout(self, TimerKind kind):
        self.timer_kind = TIMER_NONE
        if self.closed:
            return
        if kind == TIMER_HEAD and self.in_head and self.cycle is None:
            self.write_error(408, True)
        elif kind == TIMER_IDLE and self.cycle is None:
            self.close_transport()
        elif kind == TIMER_BODY and self.parsing is not None:
            self.error_reason = "Request body not received in time."
            self.fail(408)

    cdef abort_transport(self):
        self.closing = True
        self.deadline = 0
        self.held = None
        self.queued = None
        if not self.closed:
            self.transport.abort()  # drop what is buffered: the client is not reading it

    # -- requests in, responses out -------------------------------------------------------

    cdef dict build_scope(self, H1Cycle cycle):
        """The request's scope; also records the facts its cycle needs (HEAD, HTTP/1.0)."""
        cdef bytes url = self.url
        cdef bytes raw_path, query
        cdef Py_ssize_t n = PyBytes_GET_SIZE(url), q, end
        cdef const char* p = PyBytes_AS_STRING(url)
        if self.scanned_method is not None:
            method = self.scanned_method
            version = self.scanned_version
            self.scanned_method = None
        else:
            method_bytes = self.get_method()
            method = METHODS.get(method_bytes)
            if method is None:
                method = method_bytes.decode("latin-1")
            version = self.get_http_version()
            if version == V_11:
                version = V_11
            elif version == V_10:
                version = V_10
            else:
                # ASGI knows 1.0 and 1.1 here (HTTP/2 has its own connection preface).
                self.error_status = 505
                raise ProtocolError(505)
        if method is M_CONNECT:
            # A tunnel request: fastcorn does not tunnel, and what follows is not HTTP.
            self.reject(501, "CONNECT is not supported.")
        self.check_host(version, url)
        if n and p[0] == b'/':
            q = target_query(p, n, &end)
            if q < 0:
                raw_path = url if end == n else url[:end]
                query = EMPTY
            else:
                raw_path = url[:q]
                query = url[q + 1:end]
        else:
            # absolute-form ("http://host/path") or asterisk-form ("*"); authority-form
            # belongs to CONNECT, refused above.
            raw_path = url
            query = EMPTY
            if url != b"*":
                try:
                    parsed = parse_url(url)
                except HttpParserError:
                    parsed = None
                if parsed is not None and parsed.schema:
                    raw_path = parsed.path or b"/"
                    query = parsed.query or EMPTY
                    self.use_target_authority(parsed)
        cycle.is_head = method is M_HEAD
        cycle.http10 = version is V_10
        return http_scope(self.state, self.scope_template, version, method, raw_path, query,
                          self.headers, self.tls)

    cdef check_host(self, str version, bytes url):
        """RFC 9112 3.2: an HTTP/1.1 request has exactly one valid Host; 1.0 at most one."""
        if self.host_count == 0:
            if version is V_11:
                self.reject(400, "Missing Host header.")
        elif self.host_count > 1:
            self.reject(400, "More than one Host header.")
        elif not valid_host(self.host):
            self.reject(400, "Invalid Host header.")

    cdef use_target_authority(self, object parsed):
        """RFC 9112 3.2.2: for an absolute-form target, the target's authority is the host."""
        cdef bytes url = self.url, authority
        cdef Py_ssize_t start, end, i
        schema = parsed.schema.lower()
        if schema != b"http" and schema != b"https":
            self.reject(400, "Unsupported scheme in the request target.")
        if parsed.userinfo:
            self.reject(400, "User information in the request target.")
        start = url.find(b"://") + 3
        end = PyBytes_GET_SIZE(url)
        for sep in (b"/", b"?", b"#"):
            i = url.find(sep, start)
            if 0 <= i < end:
                end = i
        authority = url[start:end]
        if not authority or not valid_host(authority):
            self.reject(400, "Invalid authority in the request target.")
        headers = self.headers
        for i in range(len(headers)):
            if (<tuple>headers[i])[0] == H_HOST:
                headers[i] = (H_HOST, authority)
                return
        headers.append((H_HOST, authority))

    cdef reject(self, int status, str reason):
        """From inside a parser callback: answer ``status`` for ``reason``."""
        self.error_status = status
        self.error_reason = reason
        raise ProtocolError(status)

    cdef scan_request_line(self, bytes data):
        """Method and version off a plain request line that starts ``data`` (see the wire's
        scan_request_line); left to the parser (None) when the line is anything else."""
        cdef Py_ssize_t method_end = 0
        cdef RequestVersion version = scan_request_line(
            PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &method_end)
        self.scanned_method = None
        if version == VERSION_UNKNOWN:
            return
        method = common_method(PyBytes_AS_STRING(data), method_end)
        if method is None:
            method = METHODS.get(PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), method_end))
        if method is None:
            return
        self.scanned_method = method
        self.scanned_version = V_11 if version == VERSION_11 else V_10

    cdef start_cycle(self, H1Cycle cycle):
        """Make ``cycle`` the request being answered; its app is started by launch()."""
        self.cycle = cycle
        cdef ServerState state = self.state
        if state.limit_concurrency and state.active_requests >= state.limit_concurrency:
            cycle.response_complete = True
            cycle.disconnect()
            self.write_error(503, True)
            return
        self.unstarted = cycle

    cdef launch(self):
        """Start the app of the request being answered, if it waits to be started.

        The runtime may run the app's first step inside this call (an eager task: asyncio
        on Python 3.12+), so that an app that answers without waiting never goes through
        the scheduler. Its send() then writes, completes the response and starts the next
        pipelined request from inside this call; so launch() is never called from inside a
        parser callback (the parser cannot be re-entered), and while one launch() runs,
        a request started up the stack (by the app it runs) is left to that launch()'s
        loop: starts never nest, however many requests a read pipelines.

        A task inherits the context it is created in. From a transport's callback that is
        the connection's own; from inside an app's task (the response that completes
        starts the next pipelined request) it would be that app's, with whatever it set:
        the app then starts in a copy of the context the connection began with. So does
        every app: the transport's own callbacks may run in an app's context too (asyncio's
        selector transport re-registers its reader, with the caller's context, when an
        app's task resumes reading).
        """
        cdef H1Cycle cycle
        if self.launching:
            return
        self.launching = True
        try:
            while self.unstarted is not None:
                cycle = self.unstarted
                self.unstarted = None
                coro = cycle.coroutine()
                cycle.in_first_step = True
                PyContext_Enter(self.context)  # Context.run(spawn, coro), without its call
                try:
                    if self.spawn_func is not None:
                        cycle.task = PyObject_Call(self.spawn_func, (coro,),
                                                   self.spawn_keywords)
                    else:
                        cycle.task = self.spawn(coro)
                finally:
                    PyContext_Exit(self.context)
                    cycle.first_step_done()
        finally:
            self.launching = False

    cdef update_reading(self):
        """Read while the request being parsed has room and no request waits its turn."""
        cdef bint pause
        if self.closed or self.eof or self.lingering is not None:
            return
        pause = bool(self.pipeline) or self.error_status or self.unparsed is not None or (
            self.parsing is not None and self.parsing.body_buffered > HIGH_WATER
            and self.upgrading is None)
        if pause != self.reading_paused:
            self.reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
            if self.timer_kind == TIMER_BODY:
                # The body timeout measures the client, not a pause of ours.
                self.deadline = 0 if pause else (
                    self.state.now + self.state.timeout_request_body)

    cpdef want_body(self, HTTPCycle cycle):
        cdef H1Cycle c = <H1Cycle>cycle
        if c.expect_continue and not c.response_started and not self.closed:
            c.expect_continue = False
            self.send_informational(c, 100, None)
        if c is self.parsing:
            if self.unparsed is not None:
                self.resume_parsing()  # the app read what it had: parse what was held back
            elif self.reading_paused:
                self.update_reading()

    # -- writing ---------------------------------------------------------------------------

    cdef inline write(self, object data):
        """Every write of the core, in order: behind a large body still being fed."""
        if self.held is None:
            self.transport_write(data)  # bound once: no method lookup per write
        else:
            if self.queued is None:
                self.queued = []
            self.queued.append(data)

    cdef write_large(self, bytes body):
        """A body over COALESCE_LIMIT, uncopied: fed to the transport FEED_PIECE at a time
        while it accepts (until it pauses writing; resume_writing feeds on)."""
        if self.held is not None:
            self.write(body)  # behind the one being fed; feed_held takes it up in turn
            return
        self.held = memoryview(body)
        self.held_pos = 0
        self.feed_held()

    cdef feed_held(self):
        cdef Py_ssize_t n, end
        cdef int then
        while self.held is not None:
            view = self.held
            n = len(view)
            while self.held_pos < n and not self.writing_paused and not self.closed:
                end = self.held_pos + FEED_PIECE
                if end > n:
                    end = n
                self.transport.write(view[self.held_pos:end])
                self.held_pos = end
            if self.closed or self.held is None:  # lost or aborted meanwhile
                self.held = None
                self.queued = None
                return
            if self.held_pos < n:
                return  # paused: resume_writing() feeds on
            self.held = None
            # What was written behind it, in order; a large body in there is fed in turn.
            while self.queued and self.held is None:
                data = self.queued.pop(0)
                if len(data) > COALESCE_LIMIT:
                    self.held = memoryview(data)
                    self.held_pos = 0
                else:
                    self.transport.write(data)
            if self.held is None:
                self.queued = None
        then = self.after_held
        self.after_held = AFTER_HELD_NOTHING
        if then == AFTER_HELD_LINGER:
            self.linger()
        elif then == AFTER_HELD_CLOSE:
            self.close_transport()

    cpdef send_head(self, HTTPCycle cycle, int status, list headers, bytes body, bint more_body):
        """Status line, headers and the first body chunk, serialized into one buffer, one
        write; a first body over COALESCE_LIMIT is written after the head as it is."""
        cdef H1Cycle c = <H1Cycle>cycle
        cdef bint no_body, send_body, body_apart = False
        cdef bytes line = status_line(status), defaults = wire_defaults(self.state)
        cdef Py_ssize_t size, body_size = PyBytes_GET_SIZE(body), declared
        cdef ResponseFraming framing
        cdef char number[32]
        cdef int number_size = 0, chunk_size = 0
        cdef char chunk_head[24]
        cdef char* out
        if self.closed:
            return
        # Pass 1: validate, learn the framing the app chose, and size the buffer.
        scan_response_headers(headers, &framing)
        declared = framing.declared_length
        if framing.close_asked:
            c.keep_alive = False
        size = PyBytes_GET_SIZE(line) + PyBytes_GET_SIZE(defaults) + 2 + framing.size
        if c.expect_continue and not c.body_complete:
            # 100 was never sent, so the client may or may not send the body: close after.
            c.keep_alive = False
        if self.closing or (self.eof and not self.pipeline and self.unparsed is None):
            c.keep_alive = False
        elif c is self.parsing and not (self.content_length >= 0 and not self.request_chunked
                                        and self.body_remaining <= DISCARD_LIMIT):
            # Answered before its body arrived (a 413, a 401 to an upload): reading a large
            # or unbounded rest only to drop it costs more than a new connection. Close,
            # lingering so that the client still gets this answer.
            c.keep_alive = False
        no_body = status < 200 or status == 204 or status == 304
        if not no_body and declared < 0:
            if not more_body and not framing.app_chunked:
                if body_size or not c.is_head:
                    number_size = snprintf(number, sizeof(number), "content-length: %zd\r\n",
                                           body_size)
                    size += number_size
            elif c.http10:
                c.keep_alive = False  # HTTP/1.0 has no chunked coding: the close ends the body
                c.close_delimited = True
            else:
                c.chunked = True
                size += PyBytes_GET_SIZE(H_CHUNKED)
        if not c.keep_alive:
            size += PyBytes_GET_SIZE(H_CLOSE)
        elif c.http10:
            size += PyBytes_GET_SIZE(H_KEEP_ALIVE)
        send_body = not c.is_head and not no_body
        c.body_suppressed = not send_body
        c.declared_length = declared
        if declared >= 0 and send_body and (body_size > declared
                                           or (not more_body and body_size < declared)):
            # Found before anything is written: the app's error becomes a clean 500.
            raise RuntimeError(f"response body of {body_size} bytes does not match its "
                               f"content-length {declared}")
        c.written_length = body_size
        if send_body:
            body_apart = body_size > COALESCE_LIMIT
            if c.chunked:
                if body_size:
                    chunk_size = snprintf(chunk_head, sizeof(chunk_head), "%zx\r\n", body_size)
                    size += chunk_size
                    if not body_apart:
                        size += 2
                if not more_body and not body_apart:
                    size += PyBytes_GET_SIZE(LAST_CHUNK)
            if not body_apart:
                size += body_size
        # Pass 2: copy.
        buf = PyBytes_FromStringAndSize(NULL, size)
        out = PyBytes_AS_STRING(buf)
        out = put(out, line)
        out = put(out, defaults)
        out = write_headers(out, headers)
        if number_size:
            memcpy(out, number, number_size)
            out += number_size
        if c.chunked:
            out = put(out, H_CHUNKED)
        if not c.keep_alive:
            out = put(out, H_CLOSE)
        elif c.http10:
            out = put(out, H_KEEP_ALIVE)
        out[0] = b'\r'
        out[1] = b'\n'
        out += 2
        if body_apart:
            # The head (and chunk-size line) now, the body as it is, then the chunk's end.
            if chunk_size:
                memcpy(out, chunk_head, chunk_size)
            self.write(buf)
            self.write_large(body)
            if c.chunked:
                self.write(CRLF if more_body else CRLF_LAST_CHUNK)
        else:
            if send_body:
                if chunk_size:
                    memcpy(out, chunk_head, chunk_size)
                    out = put(out + chunk_size, body)
                    out[0] = b'\r'
                    out[1] = b'\n'
                    out += 2
                elif not c.chunked:
                    out = put(out, body)
                if c.chunked and not more_body:
                    out = put(out, LAST_CHUNK)
            self.write(buf)
        if not more_body:
            self.response_done(c)

    cpdef send_body(self, HTTPCycle cycle, bytes body, bint more_body):
        cdef H1Cycle c = <H1Cycle>cycle
        cdef Py_ssize_t size = PyBytes_GET_SIZE(body)
        if self.closed:
            return
        if not c.body_suppressed:
            if c.declared_length >= 0:
                # A body that disagrees with its content-length would desynchronise the
                # keep-alive connection (the next response read as part of this one): the
                # extra bytes are never written, and a short body ends the connection so
                # that the client sees the truncation.
                c.written_length += size
                if c.written_length > c.declared_length:
                    self.abort_transport()
                    raise RuntimeError(
                        f"response body of {c.written_length} bytes exceeds its "
                        f"content-length {c.declared_length}: connection closed")
                if not more_body and c.written_length < c.declared_length:
                    if body:
                        self.write(body)
                    self.abort_transport()
                    raise RuntimeError(
                        f"response body of {c.written_length} bytes falls short of its "
                        f"content-length {c.declared_length}: connection closed")
            if c.chunked:
                if size > COALESCE_LIMIT:
                    # Framed around the body, which goes to the transport uncopied.
                    self.write(b"%x\r\n" % size)
                    self.write_large(body)
                    self.write(CRLF if more_body else CRLF_LAST_CHUNK)
                elif body:
                    if more_body:
                        self.write(chunk(body))
                    else:
                        self.write(chunk(body) + LAST_CHUNK)
                elif not more_body:
                    self.write(LAST_CHUNK)
            elif size > COALESCE_LIMIT:
                self.write_large(body)
            elif body:
                self.write(body)
        if not more_body:
            self.response_done(c)

    cpdef object send_file(self, HTTPCycle cycle, int fd, Py_ssize_t offset,
                           Py_ssize_t count, bint more_body):
        """File bytes by the backend's sendfile (fastcorn.protocol.base.SendsFiles) when
        they go on the wire as they are: a body framed by its content-length or by the
        close, on a transport that can (not TLS). Else None, and the cycle sends the file
        through send_body (fastcorn/asgi/files.pyx)."""
        cdef H1Cycle c = <H1Cycle>cycle
        if self.closed or c.chunked or c.body_suppressed or self.held is not None:
            return None  # (a held body: the file would overtake it in the transport)
        if c.declared_length >= 0 and (
                c.written_length + count > c.declared_length
                or (not more_body and c.written_length + count < c.declared_length)):
            return None  # send_body finds the mismatch, says so and closes
        sendfile = getattr(self.runtime, "sendfile", None)
        if sendfile is None:
            return None
        sending = sendfile(self.transport, fd, offset, count)
        if sending is not None:
            c.written_length += count
        return sending

    cdef response_done(self, H1Cycle cycle):
        if cycle is not self.cycle:
            return
        self.cycle = None
        if cycle is self.parsing:
            # Answered with its body still arriving: drop what the app never read.
            cycle.drop_body()
            self.input_unread = not cycle.close_delimited  # (see linger)
        if not cycle.keep_alive or self.closing:
            self.linger()
            return
        if self.pipeline:
            if not self.writing_paused:  # else resume_writing() starts it
                self.start_cycle(<H1Cycle>self.pipeline.popleft())
            if self.unparsed is not None and len(self.pipeline) <= PIPELINE_DEPTH // 2:
                # Room again (half the depth, so that held input is not re-parsed one
                # request at a time); the request now answered may even be waiting for
                # the rest of its own body in there.
                self.resume_parsing()
            else:
                self.update_reading()
            self.launch()
            return
        if self.error_status:
            # A bad request came after the ones just answered: answer it in turn, then close.
            self.write_error(self.error_status, True)
            return
        if self.unparsed is not None:
            self.resume_parsing()
            return
        self.await_next()

    cdef resume_parsing(self):
        """The pipeline has room again: parse the input held back while it was full."""
        cdef bytes data = <bytes>self.unparsed
        self.unparsed = None
        self.feed(data, self.unparsed_pos)
        if self.cycle is None and not self.closed and not self.error_status:
            self.await_next()
        else:
            self.update_reading()

    cdef await_next(self):
        """No response in flight: close if the client half-closed and everything it sent is
        answered, else arm the timer for what the connection waits for and read on."""
        if self.eof and self.unparsed is None and self.parsing is None:
            self.close_transport()
            return
        if self.in_head:
            self.arm_timer(TIMER_HEAD, self.state.timeout_request_head)
        elif self.parsing is not None:
            self.arm_timer(TIMER_BODY, self.state.timeout_request_body)
        else:
            self.arm_timer(TIMER_IDLE, self.state.timeout_keep_alive)
        self.update_reading()

    cpdef cycle_done(self, HTTPCycle cycle):
        # The app returned. An unfinished response cannot be completed on HTTP/1.1: close.
        if not cycle.response_complete and cycle is self.cycle:
            self.cycle = None
            self.close_transport()

    cpdef send_error(self, HTTPCycle cycle, int status, bytes body):
        # After a failed app the connection's state is not to be trusted: close after it.
        (<H1Cycle>cycle).keep_alive = False
        Stream.send_error(self, cycle, status, body)

    cpdef send_informational(self, HTTPCycle cycle, int status, list headers):
        """A 1xx before the final response (100 Continue; 103 Early Hints). HTTP/1.0
        clients are sent none (RFC 9110 15.2)."""
        cdef H1Cycle c = <H1Cycle>cycle
        if status < 100 or status > 199 or status == 101:
            raise RuntimeError(f"invalid informational status {status}")
        if c.response_started or c.http10 or self.closed:
            return
        self.write(informational(status, headers))

    # -- errors and closing ------------------------------------------------------------

    cdef fail(self, int status):
        """A request we cannot serve: answer it in turn, after those ahead of it, then close."""
        cdef H1Cycle broken = self.parsing
        self.error_status = status
        self.in_head = False
        self.unparsed = None
        self.update_reading()
        if broken is not None:
            # Its body was malformed: its app must not see a truncated body as complete.
            self.parsing = None
            broken.disconnect()
            if broken is self.cycle:
                self.cycle = None
                if broken.response_started:
                    self.log_rejected(status)
                    self.close_transport()
                    return
            elif broken in self.pipeline:
                self.pipeline.remove(broken)
        if self.cycle is None:
            self.write_error(status, True)

    cdef write_error(self, int status, bint close):
        cdef str reason = self.error_reason or error_reason(status)
        self.write(error_response(status, reason, wire_defaults(self.state)))
        self.log_rejected(status)
        if close:
            self.input_unread = True  # the rest of a request we could not read
            self.linger()

    cdef log_rejected(self, int status):
        log = self.state.log_rejected
        if log is not None:
            log(self.client, status, self.error_reason or error_reason(status),
                self.request_line())

    cdef str request_line(self):
        """The rejected request's line as far as llhttp read it, for the log; else None."""
        if not self.url:
            return None
        target = self.url.decode("latin-1")
        if self.simple_line is not None:  # read by feed_simple: llhttp never saw it
            return self.simple_line[0] + " " + target + " HTTP/" + self.simple_line[1]
        try:
            method = self.get_method().decode("latin-1")
            version = self.get_http_version()
        except Exception:  # the parser is gone (connection closed) or never got that far
            return target
        return method + " " + target + " HTTP/" + version


    cdef linger(self):
        """Close after an answer without destroying it: nginx's lingering close
        (linger.pxd). Closing a socket with unread input makes the kernel send RST, which
        can destroy the answer still on its way.

        Where the transport cannot half-close (TLS on asyncio and uvloop), the close itself
        is how the client learns that the answer ended: the end of a body delimited by the
        close, what a client reading to EOF waits for. There it lingers only while input
        is surely still coming (input_unread: an error, an answer before the body), and the
        answer has a length: the client has it whole with "connection: close", and closes
        on it."""
        self.closing = True
        self.unparsed = None
        if self.held is not None and not self.closed:
            self.after_held = AFTER_HELD_LINGER  # once the answer is all written
            return
        if self.closed or self.lingering is not None or self.transport.is_closing():
            return
        if not self.eof and (self.input_unread or self.transport.can_write_eof()):
            # (After the client's EOF there is no input left to drop.)
            self.lingering = begin_lingering(self.transport, self.state.now)
        if self.lingering is None:  # or the client is already gone
            self.close_transport()
            return
        self.deadline = 0  # no other timer: the lingering has its own deadline
        self.timer_kind = TIMER_NONE
        if self.state.log_connection is not None:
            self.state.log_connection("lingering close", self.client)
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    cdef close_transport(self):
        self.closing = True
        self.deadline = 0
        if self.held is not None and not self.closed:
            self.after_held = AFTER_HELD_CLOSE  # as a transport's close(): after the writes
            return
        if not self.closed and not self.transport.is_closing():
            self.transport.close()

    # -- the server's side ----------------------------------------------------------------

    def shutdown(self):
        """Graceful shutdown: close now if idle, else after the response in flight."""
        self.closing = True
        self.pipeline.clear()
        self.unparsed = None
        if self.cycle is None:
            self.close_transport()

    def abort(self):
        """Shutdown timeout: a request not yet answered gets a 503; the app is cancelled."""
        cdef H1Cycle cycle = self.cycle
        if cycle is not None:
            self.cycle = None
            if not cycle.response_started and not self.closed:
                cycle.response_complete = True  # its app can no longer answer
                self.error_reason = "Service Unavailable: the server is shutting down."
                self.write_error(503, False)
            cycle.disconnect()
            if cycle.task is not None:
                self.runtime.cancel(cycle.task)
        self.held = None  # the deadline passed: what was not yet handed over is dropped
        self.queued = None
        self.close_transport()

"""HTTP/1.1 on httptools, with the ASGI scope and response heads built in compiled code.

See _parser.pxd for the call flow. Rules kept here:
- httptools (llhttp) is the judge of the request syntax; this module adds the checks
  llhttp leaves to the server (head size, transfer codings it cannot serve).
- Exceptions raised inside parser callbacks never cross the C boundary: httptools stores
  them and raises HttpParserCallbackError, and ``error_status`` says what to answer.
- Responses leave in request order; the status line, headers and first body chunk go out
  in one write.
"""

from collections import deque
from http import HTTPStatus
from urllib.parse import unquote as _unquote

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy

from httptools import HttpRequestParser as _HttpRequestParser
from httptools import parse_url as _parse_url
from httptools.parser.errors import (
    HttpParserCallbackError as _HttpParserCallbackError,
    HttpParserError as _HttpParserError,
    HttpParserUpgrade as _HttpParserUpgrade,
)

from fastcorn._asgi cimport HTTPCycle, ServerState, Stream

cdef object HttpRequestParser = _HttpRequestParser
cdef object parse_url = _parse_url
cdef object HttpParserError = _HttpParserError
cdef object HttpParserCallbackError = _HttpParserCallbackError
cdef object HttpParserUpgrade = _HttpParserUpgrade
cdef object unquote = _unquote
cdef object new_deque = deque

cdef enum:
    # Request body buffered for an app that has not read it yet; past this, reading pauses.
    HIGH_WATER = 256 * 1024

cdef str S_HTTP = "http"
cdef str S_HTTPS = "https"
cdef str V_11 = "1.1"
cdef str V_10 = "1.0"
cdef bytes EMPTY = b""
cdef bytes CRLF = b"\r\n"
cdef bytes LAST_CHUNK = b"0\r\n\r\n"
cdef bytes CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
cdef bytes H_CLOSE = b"connection: close\r\n"
cdef bytes H_KEEP_ALIVE = b"connection: keep-alive\r\n"
cdef bytes H_CHUNKED = b"transfer-encoding: chunked\r\n"
cdef bytes H_CONTENT_LENGTH = b"content-length: "

cdef dict METHODS = {m.encode(): m for m in (
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")}
cdef str M_HEAD = METHODS[b"HEAD"]


cdef inline Py_ssize_t find_char(const char* p, Py_ssize_t n, char c):
    cdef const char* hit = <const char*>memchr(p, c, n)
    return -1 if hit == NULL else hit - p


def _status_lines():
    lines = {}
    for status in range(100, 600):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")
    return lines

cdef dict STATUS_LINES = _status_lines()

cdef dict ERROR_BODIES = {
    400: b"Invalid HTTP request received.",
    408: b"Request head not received in time.",
    431: b"Request header fields too large.",
    500: b"Internal Server Error",
    501: b"Transfer coding not implemented.",
    505: b"HTTP version not supported.",
    503: b"Service Unavailable: too many requests in flight.",
}

# RFC 9110 token characters, for header names the app sends.
cdef unsigned char TOKEN[256]
cdef int _i
for _i in range(256):
    TOKEN[_i] = 0
for _c in "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    TOKEN[ord(_c)] = 1


cdef inline bint valid_name(bytes name):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name), i
    if n == 0:
        return False
    for i in range(n):
        if not TOKEN[p[i]]:
            return False
    return True


cdef inline bint valid_value(bytes value):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value), i
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c == 13 or c == 10 or c == 0:
            return False
    return True


cdef inline bint name_is(bytes name, bytes lowered):
    """Case-insensitive compare against an already lowercased name, cheap on a mismatch."""
    if PyBytes_GET_SIZE(name) != PyBytes_GET_SIZE(lowered):
        return False
    return name == lowered or name.lower() == lowered


cdef inline char* put(char* out, bytes data):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    memcpy(out, PyBytes_AS_STRING(data), n)
    return out + n


cdef bytes status_line(int status):
    line = STATUS_LINES.get(status)
    if line is None:
        return f"HTTP/1.1 {status} Unknown\r\n".encode("ascii")
    return <bytes>line


cdef bytes chunk(bytes body):
    return b"%x\r\n%b\r\n" % (PyBytes_GET_SIZE(body), body)


cdef tuple address(object addr):
    """(host, port) with an int port; None for a unix socket peer (ASGI allows it)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (addr[0], int(addr[1]))
    if isinstance(addr, str) and addr:
        return (addr, None)
    return None


class ProtocolError(Exception):
    """A request the server answers with an error status (carried in error_status)."""


cdef class H1Cycle(HTTPCycle):
    pass


cdef class H1Connection(Stream):
    def __init__(self, ServerState state):
        self.state = state
        self.backend = state.backend
        self.spawn = state.backend.spawn
        self.new_parser()
        self.at_boundary = True
        self.pipeline = new_deque()
        self.headers = []
        self.url = EMPTY
        self.timer_kind = TIMER_NONE
        self.scheme = S_HTTP

    cdef new_parser(self):
        # Bound methods kept as C attributes: a call each, no attribute lookup per request.
        self.parser = parser = HttpRequestParser(self)
        self.feed_data = parser.feed_data
        self.get_method = parser.get_method
        self.get_http_version = parser.get_http_version
        self.should_keep_alive = parser.should_keep_alive

    # -- the transport's side (asyncio.Protocol's names) --------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.client = address(transport.get_extra_info("peername"))
        self.server = address(transport.get_extra_info("sockname"))
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = S_HTTPS
        # Key order is the scope's; the None values are filled per request.
        self.scope_template = {
            "type": S_HTTP, "asgi": None, "http_version": None, "server": self.server,
            "client": self.client, "scheme": self.scheme, "method": None,
            "root_path": self.state.root_path, "path": None, "raw_path": None,
            "query_string": None, "headers": None, "state": None, "extensions": None,
        }
        self.state.connections.add(self)
        if self.state.shutting_down:
            self.close_transport()
            return
        self.arm_timer(TIMER_IDLE, self.state.timeout_keep_alive)

    def connection_lost(self, exc):
        self.closed = True
        self.state.connections.discard(self)
        self.deadline = 0
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
        if self.error_status or self.closed or (self.closing and self.cycle is None):
            return
        cdef bint was_in_head = self.in_head
        if self.at_boundary:
            self.scan_request_line(data)
        try:
            self.feed_data(data)
            if self.in_head:
                # httptools buffers an unfinished header line itself and reports it only once
                # complete, so count raw bytes too: one endless header must not grow forever.
                if was_in_head:
                    self.partial_head += PyBytes_GET_SIZE(data)
                    if self.partial_head > self.state.limit_request_head:
                        self.fail(431)
            else:
                self.partial_head = 0
        except HttpParserUpgrade as exc:
            # No upgrade handler yet (WebSocket comes later): the request was served as plain
            # HTTP, and whatever follows its head is parsed as the next request.
            offset = exc.args[0] if exc.args else len(data)
            self.new_parser()
            if offset < len(data):
                self.data_received(data[offset:])
        except HttpParserError as exc:
            if self.error_status == 0 and isinstance(exc, HttpParserCallbackError):
                # A bug of ours inside a callback: log it, answer 500, never crash the loop.
                if self.state.error_logger is not None:
                    self.state.error_logger.error("Error while parsing a request",
                                                  exc_info=exc.__context__ or exc)
                self.fail(500)
            else:
                self.fail(self.error_status or 400)

    def eof_received(self):
        return None  # half-close counts as a disconnect: close the transport

    def pause_writing(self):
        self.writing_paused = True

    def resume_writing(self):
        self.writing_paused = False
        if self.cycle is not None:
            self.cycle.wake_writer()

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self):
        self.at_boundary = False
        self.in_head = True
        self.url = EMPTY
        self.headers = []
        self.head_size = 0
        self.expect_continue = False
        if self.cycle is None:
            self.arm_timer(TIMER_HEAD, self.state.timeout_request_head)

    def on_url(self, bytes url):
        self.head_size += PyBytes_GET_SIZE(url)
        if self.head_size > self.state.limit_request_head:
            self.error_status = 431
            raise ProtocolError(431)
        self.url = url if not self.url else self.url + url

    def on_header(self, bytes name, bytes value):
        cdef Py_ssize_t n
        self.head_size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
        if self.head_size > self.state.limit_request_head:
            self.error_status = 431
            raise ProtocolError(431)
        name = name.lower()
        n = PyBytes_GET_SIZE(name)
        if n == 17 and name == b"transfer-encoding":
            # llhttp frames only chunked; any other coding is one we cannot decode (RFC 9112 6.1).
            if value.strip().lower() != b"chunked":
                self.error_status = 501
                raise ProtocolError(501)
        elif n == 6 and name == b"expect":
            if value.strip().lower() == b"100-continue":
                self.expect_continue = True
        n = PyBytes_GET_SIZE(value)
        if n and (PyBytes_AS_STRING(value)[n - 1] == b' ' or PyBytes_AS_STRING(value)[n - 1] == b'\t'):
            value = value.rstrip(b" \t")  # trailing whitespace is not part of a field value
        self.headers.append((name, value))

    def on_headers_complete(self):
        cdef ServerState state = self.state
        cdef H1Cycle cycle = H1Cycle.__new__(H1Cycle)
        cycle.init(state, self, self.build_scope(cycle))
        self.in_head = False
        cycle.keep_alive = self.should_keep_alive() and not self.closing
        cycle.expect_continue = self.expect_continue and not cycle.http10
        self.parsing = cycle
        if self.cycle is None:
            self.deadline = 0
            self.timer_kind = TIMER_NONE
            self.start_cycle(cycle)
        else:
            self.pipeline.append(cycle)
            self.update_reading()

    def on_body(self, bytes body):
        cdef H1Cycle cycle = self.parsing
        if cycle is None or cycle.response_complete or cycle.disconnected:
            return  # the app already answered: the rest of the body is read and dropped
        cycle.feed_body(body)
        if cycle.body_buffered > HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def on_message_complete(self):
        cdef H1Cycle cycle = self.parsing
        self.at_boundary = True
        self.scanned_method = None  # a pipelined request behind it is asked of the parser
        if cycle is not None:
            cycle.end_body()
            self.parsing = None

    # -- timers ------------------------------------------------------------------------

    cdef arm_timer(self, TimerKind kind, double delay):
        self.timer_kind = kind
        self.deadline = self.state.now + delay if delay > 0 else 0

    def check_timeout(self, double now):
        """Called by the server's once-a-second sweep (so timeouts are precise to ~1 s)."""
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

    # -- requests in, responses out -------------------------------------------------------

    cdef dict build_scope(self, H1Cycle cycle):
        """The request's scope; also records the facts its cycle needs (HEAD, HTTP/1.0)."""
        cdef bytes url = self.url
        cdef bytes raw_path, query
        cdef Py_ssize_t n = PyBytes_GET_SIZE(url), q
        cdef const char* p = PyBytes_AS_STRING(url)
        cdef str path
        if n and p[0] == b'/':
            q = find_char(p, n, b'?')
            if q < 0:
                q = find_char(p, n, b'#')
                raw_path = url if q < 0 else url[:q]
                query = EMPTY
            else:
                raw_path = url[:q]
                query = url[q + 1:]
                n = find_char(PyBytes_AS_STRING(query), PyBytes_GET_SIZE(query), b'#')
                if n >= 0:
                    query = query[:n]
        else:
            # absolute-form ("http://host/path"), asterisk-form ("*") or, for CONNECT,
            # authority-form ("host:port"), which has no path: raw_path is the target.
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
        if find_char(PyBytes_AS_STRING(raw_path), PyBytes_GET_SIZE(raw_path), b'%') >= 0:
            path = unquote(raw_path.decode("latin-1"))
        else:
            path = raw_path.decode("latin-1")
        root_path = self.state.root_path
        if root_path:
            path = root_path + path
            raw_path = root_path.encode() + raw_path
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
        cycle.is_head = method is M_HEAD
        cycle.http10 = version is V_10
        scope = self.scope_template.copy()
        scope["asgi"] = self.state.asgi.copy()
        scope["http_version"] = version
        scope["method"] = method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        scope["headers"] = self.headers
        scope["state"] = self.state.lifespan_state.copy()
        scope["extensions"] = {}
        return scope

    cdef scan_request_line(self, bytes data):
        """Read method and version off a request line that starts ``data``, when it is plain.

        Asking httptools costs two Python calls per request; this is a memchr and two
        compares. It only ever agrees with llhttp: anything unusual (no complete line, a
        method outside the common set, a version other than 1.0/1.1, odd spacing) is left to
        the parser's own answers, and a line llhttp rejects never reaches build_scope.
        """
        cdef const char* p = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), end, space
        self.scanned_method = None
        end = find_char(p, n, b'\n')
        if end < 10 or p[end - 1] != b'\r':
            return
        # the line must end in " HTTP/1.1\r" or " HTTP/1.0\r"
        if memcmp(p + end - 10, b" HTTP/1.", 8) != 0:
            return
        if p[end - 2] == b'1':
            version = V_11
        elif p[end - 2] == b'0':
            version = V_10
        else:
            return
        space = find_char(p, end, b' ')
        if space <= 0 or space > 7:
            return
        method = METHODS.get(PyBytes_FromStringAndSize(p, space))
        if method is None:
            return
        self.scanned_method = method
        self.scanned_version = version

    cdef start_cycle(self, H1Cycle cycle):
        self.cycle = cycle
        cdef ServerState state = self.state
        if state.limit_concurrency and state.active_requests >= state.limit_concurrency:
            cycle.response_complete = True
            cycle.disconnect()
            self.write_error(503, True)
            return
        cycle.task = self.spawn(cycle.run())

    cdef update_reading(self):
        """Read while the request being parsed has room and no request waits its turn."""
        cdef bint pause = bool(self.pipeline) or self.error_status or (
            self.parsing is not None and self.parsing.body_buffered > HIGH_WATER)
        if pause != self.reading_paused and not self.closed:
            self.reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    cpdef want_body(self, HTTPCycle cycle):
        cdef H1Cycle c = <H1Cycle>cycle
        if c.expect_continue and not c.response_started and not self.closed:
            c.expect_continue = False
            self.transport.write(CONTINUE)
        if c is self.parsing and self.reading_paused:
            self.update_reading()

    cpdef send_head(self, HTTPCycle cycle, int status, list headers, bytes body, bint more_body):
        """Status line, headers and the first body chunk, serialized into one buffer, one write."""
        cdef H1Cycle c = <H1Cycle>cycle
        cdef bint has_length = False, app_chunked = False, no_body, send_body
        cdef bytes name, value, line = status_line(status), defaults = self.state.default_headers
        cdef Py_ssize_t size, body_size = PyBytes_GET_SIZE(body), count = 0
        cdef char number[32]
        cdef int number_size = 0, chunk_size = 0
        cdef char chunk_head[24]
        cdef char* out
        if self.closed:
            return
        # Pass 1: validate, learn the framing the app chose, and size the buffer.
        size = PyBytes_GET_SIZE(line) + PyBytes_GET_SIZE(defaults) + 2
        for item in headers:
            name, value = item
            if not valid_name(name) or not valid_value(value):
                raise RuntimeError(f"invalid response header {name!r}: {value!r}")
            if name_is(name, b"content-length"):
                has_length = True
            elif name_is(name, b"transfer-encoding"):
                app_chunked = True
                continue  # framing is ours: chunked is added below
            elif name_is(name, b"connection"):
                if value.lower() == b"close":
                    c.keep_alive = False
                continue  # ours as well
            size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
        if c.expect_continue and not c.body_complete:
            # 100 was never sent, so the client may or may not send the body: close after.
            c.keep_alive = False
        if self.closing:
            c.keep_alive = False
        no_body = status < 200 or status == 204 or status == 304
        if not no_body and not has_length:
            if not more_body and not app_chunked:
                if body_size or not c.is_head:
                    number_size = snprintf(number, sizeof(number), "content-length: %zd\r\n",
                                           body_size)
                    size += number_size
            elif c.http10:
                c.keep_alive = False  # HTTP/1.0 has no chunked coding: the close ends the body
            else:
                c.chunked = True
                size += PyBytes_GET_SIZE(H_CHUNKED)
        if not c.keep_alive:
            size += PyBytes_GET_SIZE(H_CLOSE)
        elif c.http10:
            size += PyBytes_GET_SIZE(H_KEEP_ALIVE)
        send_body = not c.is_head and not no_body
        c.body_suppressed = not send_body
        if send_body:
            size += body_size
            if c.chunked:
                if body_size:
                    chunk_size = snprintf(chunk_head, sizeof(chunk_head), "%zx\r\n", body_size)
                    size += chunk_size + 2
                if not more_body:
                    size += PyBytes_GET_SIZE(LAST_CHUNK)
        # Pass 2: copy.
        buf = PyBytes_FromStringAndSize(NULL, size)
        out = PyBytes_AS_STRING(buf)
        out = put(out, line)
        out = put(out, defaults)
        for item in headers:
            name, value = item
            if PyBytes_GET_SIZE(name) == 17 or PyBytes_GET_SIZE(name) == 10:
                if name_is(name, b"transfer-encoding") or name_is(name, b"connection"):
                    continue
            out = put(out, name)
            out[0] = b':'
            out[1] = b' '
            out = put(out + 2, value)
            out[0] = b'\r'
            out[1] = b'\n'
            out += 2
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
        self.transport.write(buf)
        if not more_body:
            self.response_done(c)

    cpdef send_body(self, HTTPCycle cycle, bytes body, bint more_body):
        cdef H1Cycle c = <H1Cycle>cycle
        if self.closed:
            return
        if not c.body_suppressed:
            if c.chunked:
                if body:
                    if more_body:
                        self.transport.write(chunk(body))
                    else:
                        self.transport.write(chunk(body) + LAST_CHUNK)
                elif not more_body:
                    self.transport.write(LAST_CHUNK)
            elif body:
                self.transport.write(body)
        if not more_body:
            self.response_done(c)

    cdef response_done(self, H1Cycle cycle):
        if cycle is not self.cycle:
            return
        self.cycle = None
        if not cycle.keep_alive or self.closing:
            self.close_transport()
            return
        if self.pipeline:
            self.start_cycle(<H1Cycle>self.pipeline.popleft())
            self.update_reading()
            return
        if self.error_status:
            # A bad request came after the ones just answered: answer it in turn, then close.
            self.write_error(self.error_status, True)
            return
        if self.in_head:
            self.arm_timer(TIMER_HEAD, self.state.timeout_request_head)
        else:
            self.arm_timer(TIMER_IDLE, self.state.timeout_keep_alive)
        self.update_reading()

    cpdef cycle_done(self, HTTPCycle cycle):
        # The app returned. An unfinished response cannot be completed on HTTP/1.1: close.
        if not cycle.response_complete and cycle is self.cycle:
            self.cycle = None
            self.close_transport()

    # -- errors and closing ------------------------------------------------------------

    cdef fail(self, int status):
        """A request we cannot serve: answer it in turn, after those ahead of it, then close."""
        cdef H1Cycle broken = self.parsing
        self.error_status = status
        self.in_head = False
        self.update_reading()
        if broken is not None:
            # Its body was malformed: its app must not see a truncated body as complete.
            self.parsing = None
            broken.disconnect()
            if broken is self.cycle:
                self.cycle = None
                if broken.response_started:
                    self.close_transport()
                    return
            elif broken in self.pipeline:
                self.pipeline.remove(broken)
        if self.cycle is None:
            self.write_error(status, True)

    cdef write_error(self, int status, bint close):
        body = ERROR_BODIES.get(status, EMPTY)
        head = b"%bcontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % (
            status_line(status), len(body))
        self.transport.write(head + self.state.default_headers + H_CLOSE + CRLF + body)
        if close:
            self.close_transport()

    cdef close_transport(self):
        self.closing = True
        self.deadline = 0
        if not self.closed and not self.transport.is_closing():
            self.transport.close()

    # -- the server's side ----------------------------------------------------------------

    def shutdown(self):
        """Graceful shutdown: close now if idle, else after the response in flight."""
        self.closing = True
        self.pipeline.clear()
        if self.cycle is None:
            self.close_transport()

    def abort(self):
        """Shutdown timeout: drop the connection and cancel the app."""
        if self.cycle is not None and self.cycle.task is not None:
            self.backend.cancel(self.cycle.task)
        self.close_transport()

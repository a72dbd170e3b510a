"""The HTTP/2 connection: a protocol core on the h2 package, compiled.

See h2.pxd for the call flow. Rules kept here:
- h2 is the protocol engine; every stream runs the same HTTPCycle as HTTP/1.1 (one per
  stream), with the scope built by fastcorn.asgi.scope.
- One ``data_to_send()`` and one ``transport.write`` per read, and one per loop turn for
  what the apps sent (``flush_soon``), never one per frame.
- What h2 leaves unbounded is bounded here: control-frame floods (counted by a frame
  scanner before h2 parses a byte), rapid reset, streams above the limit, request body
  buffered for an app that reads slowly (the stream window, acknowledged only as the app
  reads), and output for a client that never reads (reading pauses while writing is).
"""

from base64 import urlsafe_b64decode as _b64decode
from binascii import Error as _Base64Error

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

from h2 import events as _events
from h2.config import H2Configuration as _H2Configuration
from h2.connection import AllowedStreamIDs as _AllowedStreamIDs
from h2.connection import ConnectionState as _ConnectionState
from h2.connection import H2Connection as _H2Engine
from h2.exceptions import ProtocolError as _ProtocolError
from h2.settings import SettingCodes as _SettingCodes
from h2.settings import Settings as _Settings
from h2.stream import StreamInputs as _StreamInputs
from h2.stream import StreamState as _StreamState
from h2.stream import _transitions
from hpack.exceptions import HPACKError as _HPACKError
from hpack.exceptions import OversizedHeaderListError as _OversizedHeaderListError
from hyperframe.frame import GoAwayFrame as _GoAwayFrame

from fastcorn._parser cimport target_query
from fastcorn.asgi.cycle cimport HTTPCycle, ServerState, Stream
from fastcorn.asgi.scope cimport address, http_scope, http_template
from fastcorn.asgi.tls import tls_extension
from fastcorn.protocol.h2headers cimport add_outbound, check_request, take_regular
from fastcorn.protocol.linger cimport begin_lingering
from fastcorn.protocol.h2headers import HeaderError as _HeaderError
from fastcorn.protocol.h2headers import check_push_request_headers as _check_push_request
from fastcorn.protocol.hpack import install as _install_hpack

cdef object RequestReceived = _events.RequestReceived
cdef object DataReceived = _events.DataReceived
cdef object StreamEnded = _events.StreamEnded
cdef object StreamReset = _events.StreamReset
cdef object WindowUpdated = _events.WindowUpdated
cdef object RemoteSettingsChanged = _events.RemoteSettingsChanged
cdef object ConnectionTerminated = _events.ConnectionTerminated
cdef object PingAckReceived = _events.PingAckReceived
cdef object TrailersReceived = _events.TrailersReceived
cdef object H2ProtocolError = _ProtocolError
cdef object HeaderError = _HeaderError
cdef object HPACKError = _HPACKError
cdef object OversizedHeaderListError = _OversizedHeaderListError
cdef object check_push_request = _check_push_request
cdef object GoAwayFrame = _GoAwayFrame
cdef object b64decode = _b64decode
cdef object Base64Error = _Base64Error
cdef object INITIAL_WINDOW_SIZE = _SettingCodes.INITIAL_WINDOW_SIZE
cdef object ENABLE_PUSH = _SettingCodes.ENABLE_PUSH
cdef object _ServerOpen = _ConnectionState.SERVER_OPEN
cdef object _Closed = _ConnectionState.CLOSED
cdef object SEND_HEADERS = _StreamInputs.SEND_HEADERS
cdef object SEND_INFORMATIONAL_HEADERS = _StreamInputs.SEND_INFORMATIONAL_HEADERS
cdef object SEND_DATA = _StreamInputs.SEND_DATA
cdef object SEND_END_STREAM = _StreamInputs.SEND_END_STREAM
cdef object RECV_HEADERS = _StreamInputs.RECV_HEADERS
cdef object RECV_END_STREAM = _StreamInputs.RECV_END_STREAM
cdef object CLIENT_STREAMS = _AllowedStreamIDs.ODD
cdef object STREAM_CLOSED_STATE = _StreamState.CLOSED


cdef list transitions_of(object input_):
    """h2's stream transitions on ``input_``, indexed by state (StreamState is an IntEnum):
    (function, target state), or None where h2 refuses the input."""
    table = [None] * (max(int(state) for state in _StreamState) + 1)
    for state in _StreamState:
        table[int(state)] = _transitions.get((state, input_))
    return table


cdef list T_SEND_HEADERS = transitions_of(SEND_HEADERS)
cdef list T_SEND_INFORMATIONAL_HEADERS = transitions_of(SEND_INFORMATIONAL_HEADERS)
cdef list T_SEND_DATA = transitions_of(SEND_DATA)
cdef list T_SEND_END_STREAM = transitions_of(SEND_END_STREAM)
cdef list T_RECV_HEADERS = transitions_of(RECV_HEADERS)
cdef list T_RECV_END_STREAM = transitions_of(RECV_END_STREAM)


cdef step(object machine, list table, object input_):
    """machine.process_input(input_), from h2's own transition table, without its
    per-call type check and Enum hashing (a third of a request's remaining cost)."""
    cdef Py_ssize_t state = machine.state
    entry = table[state] if 0 <= state < len(table) else None
    if entry is None:
        return machine.process_input(input_)  # h2 closes the stream and raises
    func, target = <tuple>entry
    previous = machine.state
    machine.state = target
    if func is not None:
        try:
            func(machine, previous)
        except H2ProtocolError:
            machine.state = STREAM_CLOSED_STATE
            raise
        except AssertionError as error:
            machine.state = STREAM_CLOSED_STATE
            raise H2ProtocolError(error) from error

cdef enum:
    # RFC 9113 section 7 error codes
    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    COMPRESSION_ERROR = 9
    REFUSED_STREAM = 7
    CANCEL = 8
    ENHANCE_YOUR_CALM = 11
    # frame types (RFC 9113 section 6) the flood scanner tells apart
    FRAME_DATA = 0
    FRAME_HEADERS = 1
    FRAME_CONTINUATION = 9
    FRAME_GOAWAY = 7
    FLAG_END_HEADERS = 4
    FLAG_PADDED = 8
    FLAG_PRIORITY = 0x20
    GOAWAY_SIZE = 17  # frame header, last stream id, error code: no debug data
    FLAG_END_STREAM = 1
    PREFACE_SIZE = 24
    MAX_STREAM_ID = 0x7FFFFFFF
    # Flood budgets are counted per window of the server's coarse clock.
    BUDGET_SECONDS = 10
    # What each request and each DATA frame we send earns against the control-frame
    # budget: a client acknowledges DATA with up to two WINDOW_UPDATEs (stream and
    # connection) and may send PRIORITY / PRIORITY_UPDATE for each request.
    CREDIT_PER_REQUEST = 4
    CREDIT_PER_DATA_FRAME = 2

cdef str S_HTTP = "http"
cdef str S_HTTPS = "https"
cdef str V_2 = "2"
cdef bytes EMPTY = b""
cdef bytes H_STATUS = b":status"
cdef bytes M_GET = b"GET"
cdef bytes H_CONTENT_LENGTH = b"content-length"
cdef bytes H_CONTENT_TYPE = b"content-type"
cdef bytes H_HOST = b"host"
cdef bytes H_LINK = b"link"
cdef bytes TEXT_PLAIN = b"text/plain; charset=utf-8"
cdef bytes PING_DATA = b"fcgoaway"  # the PING of a graceful shutdown's first step
cdef list STATUS = [str(i).encode() for i in range(600)]
cdef list STATUS_FIELDS = [(H_STATUS, code) for code in STATUS]
cdef dict METHODS = {m.encode(): m for m in (
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")}
cdef str M_HEAD = "HEAD"
cdef str M_CONNECT = "CONNECT"
cdef bytes PROTOCOL_WEBSOCKET = b"websocket"
# fastcorn.protocol.h2tunnel.StreamTransport, imported at the first extended CONNECT (that
# module cimports this one).
cdef object StreamTransport = None
cdef str X_TRAILERS = "http.response.trailers"
cdef str X_EARLY_HINT = "http.response.early_hint"
cdef str X_PUSH = "http.response.push"
# Connection-specific fields an HTTP/1.1 upgrade request carries that HTTP/2 forbids.
cdef frozenset HOP_BY_HOP = frozenset((b"connection", b"upgrade", b"http2-settings",
                                       b"keep-alive", b"proxy-connection",
                                       b"transfer-encoding", b"te"))
cdef bytes BASE64URL = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        b"0123456789-_")
cdef bytes UPGRADE_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\n"
                               b"connection: Upgrade\r\nupgrade: h2c\r\n\r\n")


# -- the engine -------------------------------------------------------------------------------

cdef bytes frame_head(Py_ssize_t length, int kind, int flags, int stream_id):
    """The 9-octet frame header (RFC 9113 4.1)."""
    cdef bytes head = PyBytes_FromStringAndSize(NULL, 9)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(head)
    p[0] = (length >> 16) & 0xFF
    p[1] = (length >> 8) & 0xFF
    p[2] = length & 0xFF
    p[3] = kind
    p[4] = flags
    p[5] = (stream_id >> 24) & 0x7F
    p[6] = (stream_id >> 16) & 0xFF
    p[7] = (stream_id >> 8) & 0xFF
    p[8] = stream_id & 0xFF
    return head


cdef object new_engine(object settings, ServerState state, bint extended_connect):
    """The h2 connection with fastcorn's settings: the one place that says which HPACK
    codec and which header checks h2 uses. The codec is fastcorn.protocol.hpack's; h2's
    four validate/normalize passes are off because h2headers' checks run in this core
    instead (check_request for every request, take_regular for trailers, add_outbound
    for everything sent). h2 still tracks content-length against the DATA received."""
    config = _H2Configuration(
        client_side=False, header_encoding=None,
        validate_inbound_headers=False, normalize_inbound_headers=False,
        validate_outbound_headers=False, normalize_outbound_headers=False,
    )
    engine = _H2Engine(config=config)
    _install_hpack(engine)
    # HPACK bomb: decoding stops past the header list limit (h2 answers ENHANCE_YOUR_CALM).
    # h2 applies SETTINGS_MAX_HEADER_LIST_SIZE only once the client acknowledges it: the
    # limit holds from the first byte instead.
    engine.decoder.max_header_list_size = state.limit_request_head
    engine.local_settings = local_settings(settings, state, settings.max_concurrent_streams,
                                           extended_connect)
    engine.max_inbound_frame_size = settings.max_frame_size
    return engine


cdef object local_settings(object settings, ServerState state, int max_streams,
                           bint extended_connect):
    # Values in force at once (the server's SETTINGS are not waited for: a client that
    # runs ahead of them is within the defaults, which are smaller).
    values = {
        _SettingCodes.MAX_CONCURRENT_STREAMS: max_streams,
        _SettingCodes.INITIAL_WINDOW_SIZE: settings.stream_window,
        _SettingCodes.MAX_FRAME_SIZE: settings.max_frame_size,
        _SettingCodes.MAX_HEADER_LIST_SIZE: state.limit_request_head,
        _SettingCodes.ENABLE_PUSH: 0,
    }
    if extended_connect:
        # RFC 8441 3: a client may open WebSockets with extended CONNECT.
        values[_SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
    return _Settings(client=False, initial_values=values)


# -- the stream -------------------------------------------------------------------------------

cdef class H2Stream(Stream):
    """One request on one stream: what its HTTPCycle writes to."""

    cdef feed(self, bytes data, Py_ssize_t flow):
        """DATA for this request: to the app, or held while it has body unread."""
        cdef HTTPCycle cycle = self.cycle
        if cycle.body_buffered == 0 and self.held is None:
            self.unacked += flow
            cycle.feed_body(data)
        else:
            # One buffer instead of one chunk object per (possibly tiny) frame; the stream
            # window bounds it, and it reaches the app as one chunk on its next receive().
            if self.held is None:
                self.held = bytearray()
            self.held += data
            self.unacked += flow

    cdef finish_request(self):
        self.request_ended = True
        if self.held is not None:
            self.cycle.feed_body(bytes(self.held))
            self.held = None
        self.cycle.end_body()

    cpdef want_body(self, HTTPCycle cycle):
        # The app read everything it had: hand the window back, then what was held.
        cdef H2Connection conn = self.conn
        cdef Py_ssize_t acked = self.unacked
        if self.held is not None:
            data = bytes(self.held)
            self.held = None
            acked -= PyBytes_GET_SIZE(data)
            cycle.feed_body(data)
        if acked > 0 and not self.reset and not conn.closed:
            self.unacked -= acked
            conn.acknowledge(self.stream_id, acked)
            conn.flush_soon()

    cpdef send_head(self, HTTPCycle cycle, int status, list headers, bytes body, bint more_body):
        self.conn.send_head(self, status, headers, body, more_body)

    cpdef send_body(self, HTTPCycle cycle, bytes body, bint more_body):
        self.conn.send_body(self, body, more_body)

    cpdef send_error(self, HTTPCycle cycle, int status, bytes body):
        # A stream's error answer is an ordinary response: HTTP/2 has no connection to close
        # for it (and no connection-specific fields to send).
        self.conn.send_head(self, status, [(H_CONTENT_TYPE, TEXT_PLAIN)], body, False)

    cpdef send_informational(self, HTTPCycle cycle, int status, list headers):
        """A 1xx before the final response: 103 Early Hints."""
        if status < 100 or status > 199 or status == 101:
            raise RuntimeError(f"invalid informational status {status}")
        if cycle.response_started or self.reset or self.conn.closed:
            return
        fields = [STATUS_FIELDS[status]]
        add_outbound(fields, headers, False, True)  # raises HeaderError: the app's error
        self.conn.send_headers(self, fields, False, True)
        self.conn.flush_soon()

    cpdef send_trailers(self, HTTPCycle cycle, list headers):
        cdef list fields = []
        if self.reset or self.conn.closed:
            return
        try:
            add_outbound(fields, headers, True, False)
        except HeaderError:
            # The body went out, the response is complete for the cycle: the stream must
            # not be left open without its END_STREAM.
            self.conn.reset_stream(self, INTERNAL_ERROR)
            self.conn.flush_soon()
            raise
        self.trailer_fields = fields
        self.end_pending = True
        self.conn.push_out(self)
        self.conn.flush_soon()

    cpdef push(self, HTTPCycle cycle, str path, list headers):
        """Server push (RFC 9113 8.4): a PUSH_PROMISE on this stream, and the app run for
        the promised GET as for any request. Ignored where the client refused pushes."""
        cdef H2Connection conn = self.conn
        cdef H2Stream pushed
        if self.reset or conn.closed or conn.closing or not conn.h2.remote_settings.enable_push:
            return
        authority = None
        for name, value in cycle.scope["headers"]:
            if name == H_HOST:
                authority = value
                break
        target = path.encode("latin-1")
        if not target.startswith(b"/"):
            raise RuntimeError(f"http.response.push path must start with '/': {path!r}")
        fields = []
        for name, value in headers:
            if name != H_HOST and not name.startswith(b":"):
                fields.append((name, value))
        request = check_push_request(M_GET, conn.scheme.encode(), authority or b"localhost",
                                     target, fields)  # raises HeaderError: the app's error
        fields = request[4:]
        try:
            promised = conn.h2.get_next_available_stream_id()
            conn.h2.push_stream(self.stream_id, promised, request)
        except H2ProtocolError:
            return  # the client's stream limit, or a stream that just closed: no push
        if authority is not None:
            fields.insert(0, (H_HOST, authority))
        pushed = conn.new_stream(promised, conn.build_scope("GET", target, fields, False),
                                 False)
        pushed.finish_request()
        conn.to_start.append(pushed)
        conn.start_streams()
        conn.flush_soon()

    cpdef cycle_done(self, HTTPCycle cycle):
        """The app returned: an unfinished response is reset (the other streams go on)."""
        cdef H2Connection conn = self.conn
        self.app_done = True
        if not self.response_ended and not self.reset and not conn.closed:
            if not cycle.response_complete:
                conn.reset_stream(self, INTERNAL_ERROR)
                conn.flush_soon()
        if self.response_ended or self.reset:
            conn.forget(self)


# -- the connection ---------------------------------------------------------------------------

cdef class H2Connection:
    def __init__(self, ServerState state, object config, object upgrade=None):
        if config is None:
            raise ValueError("HTTP/2 is served with the server's Config (its http2 settings)")
        self.state = state
        self.settings = config.http2
        self.config = config
        self.extended_connect = config.ws.protocol != "none"
        self.runtime = state.runtime
        self.spawn = state.runtime.spawn
        self.h2 = new_engine(self.settings, state, self.extended_connect)
        self.receive_data = self.h2.receive_data
        self.data_to_send = self.h2.data_to_send
        self.streams = {}
        self.tunnels = {}
        self.blocked = []
        self.to_start = []
        self.cancelling = []
        self.scheme = S_HTTP
        self.upgrade = upgrade
        self.flush_callback = self._flush
        self.preface_left = PREFACE_SIZE
        self.last_stream_id = MAX_STREAM_ID

    # -- the transport's side -----------------------------------------------------------

    def connection_made(self, transport):
        cdef ServerState state = self.state
        self.transport = transport
        self.client = address(transport.get_extra_info("peername"))
        self.server = address(transport.get_extra_info("sockname"))
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.scheme = S_HTTPS
            self.tls = tls_extension(ssl_object)
        self.scope_template = http_template(state, self.client, self.server, self.scheme)
        state.connections.add(self)
        if state.log_connection is not None:
            state.log_connection("connection open (HTTP/2)", self.client)
        if self.upgrade is not None:
            transport.write(UPGRADE_RESPONSE)
            self.h2.initiate_upgrade_connection(self.upgrade[2])
        else:
            self.h2.initiate_connection()
        self.raise_limits()
        self.push_allowed = bool(self.h2.remote_settings.enable_push)  # RFC default: on
        self.window_end = state.now + BUDGET_SECONDS
        if self.upgrade is not None:
            self.start_upgrade()
        else:
            self.deadline = state.now + state.timeout_keep_alive
        self.flush()
        if state.shutting_down:
            self.shutdown()

    cdef raise_limits(self):
        engine = self.h2
        extra = self.settings.connection_window - 65535
        if extra > 0:
            engine.increment_flow_control_window(extra)
        # Streams above the advertised limit are refused by this core (REFUSED_STREAM, a
        # stream error); h2 would end the whole connection instead. So h2's own bound,
        # with the SETTINGS already serialized, is set above ours: it only stops a client
        # that opens far more streams in one read than it was ever allowed.
        self.engine_stream_bound = 2 * self.settings.max_concurrent_streams + 100
        engine.local_settings = local_settings(
            self.settings, self.state, self.engine_stream_bound, self.extended_connect)

    def connection_lost(self, exc):
        if self.closed:
            return
        self.closed = True
        self.dead = True
        self.deadline = 0
        self.write_deadline = 0
        self.state.connection_closed(self)
        if self.state.log_connection is not None:
            self.state.log_connection("connection closed", self.client,
                                      "" if exc is None else str(exc))
        self.release_streams(exc)

    cdef release_streams(self, object exc):
        """Every stream's app sees the disconnect: the connection is gone, or lingers with
        nothing more to send (close_transport)."""
        cdef H2Stream s
        streams = list(self.streams.values())
        self.blocked = []
        self.to_start = []
        if self.tunnels:
            tunnels = list(self.tunnels.values())
            self.tunnels = {}
            for tunnel in tunnels:
                tunnel.gone(exc)
        for s in streams:
            s.reset = True
            s.cycle.disconnect()
            if not s.started or s.app_done:
                self.forget(s)

    def eof_received(self):
        return False  # HTTP/2 has no half-close: what was in flight cannot be answered

    def data_received(self, bytes data):
        if self.lingering is not None:
            # Our last frame is sent: drop input until the client's EOF, within a bound.
            self.lingering.drop(PyBytes_GET_SIZE(data))
            return
        if self.dead:
            return
        if self.state.now >= self.window_end:
            # A new budget window: what the last one spent is forgiven.
            self.window_end = self.state.now + BUDGET_SECONDS
            self.control_frames = 0
            self.credit = 0
            self.resets = 0
        self.count_frames(data)
        if self.over_budget():
            self.terminate(ENHANCE_YOUR_CALM)
            return
        cdef Py_ssize_t taken = self.receive_requests(data)
        if self.dead:
            self.flush()
            return
        if taken == PyBytes_GET_SIZE(data):
            self.start_streams()
            self.flush()
            return
        if taken:
            data = data[taken:]
        try:
            events = self.receive_data(data)
        except H2ProtocolError as error:
            # h2 queued the GOAWAY with the error's code (PROTOCOL_ERROR, FRAME_SIZE_ERROR,
            # ENHANCE_YOUR_CALM for an HPACK bomb, ...): send it and close. A bad preface
            # fails before h2 gets that far: its GOAWAY is ours.
            if self.h2.state_machine.state is not _Closed:
                self.goaway(0, PROTOCOL_ERROR)
            elif isinstance(error.__cause__, HPACKError) and not isinstance(
                    error.__cause__, OversizedHeaderListError):
                self.compression_error()
            self.flush()
            self.close_transport()
            return
        self.handle_events(events)
        self.start_streams()
        self.flush()
        if self.closing and self.idle():
            self.close_transport()

    def pause_writing(self):
        cdef H2Stream s
        self.transport_paused = True
        if self.state.timeout_write > 0:
            self.write_deadline = self.state.now + self.state.timeout_write
        # A client that does not read gets no more work done for it: its own control
        # frames (PING, SETTINGS) would each add an answer to what it does not read.
        # (A lingering close reads on: there are no more answers.)
        if not self.closed and self.lingering is None:
            self.transport.pause_reading()
        for s in self.streams.values():
            s.writing_paused = True
        for tunnel in list(self.tunnels.values()):
            tunnel.transport_paused()

    def resume_writing(self):
        cdef H2Stream s
        self.transport_paused = False
        self.write_deadline = 0
        if self.closed:
            return
        self.transport.resume_reading()
        self.unblock()
        for s in list(self.streams.values()):
            if s.writing_paused and not s.blocked:
                s.writing_paused = False
                s.cycle.wake_writer()
        for tunnel in list(self.tunnels.values()):
            tunnel.window_opened()
        self.flush()

    # -- flood accounting -------------------------------------------------------------

    cdef int count_frames(self, bytes data) except -1:
        """Walk the frame headers in ``data`` (carrying partial ones across reads) and count
        what costs us work but serves no request: the control-frame budget."""
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), i = 0, take, length
        cdef int kind, flags
        if self.preface_left:
            take = min(self.preface_left, n)
            self.preface_left -= take
            i = take
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.skip -= take
                i += take
                continue
            take = min(9 - self.head_len, n - i)
            memcpy(&self.head[self.head_len], p + i, take)
            self.head_len += take
            i += take
            if self.head_len < 9:
                break
            self.head_len = 0
            length = (self.head[0] << 16) | (self.head[1] << 8) | self.head[2]
            kind = self.head[3]
            flags = self.head[4]
            self.skip = length
            if kind == FRAME_HEADERS:
                self.credit += CREDIT_PER_REQUEST
            elif kind == FRAME_DATA:
                if length == 0 and not (flags & FLAG_END_STREAM):
                    self.control_frames += 1
            elif kind != FRAME_CONTINUATION:
                # SETTINGS, PING, PRIORITY, RST_STREAM, WINDOW_UPDATE, GOAWAY, PUSH_PROMISE
                # (refused anyway), and frames of unknown types, which h2 drops silently.
                self.control_frames += 1
        return 0

    cdef Py_ssize_t receive_requests(self, bytes data) except -1:
        """The requests that open a read, taken without h2's frame machinery: how many
        bytes of ``data`` were; h2 gets the rest.

        h2 parses every frame into hyperframe objects, logs its repr, walks every stream
        to count the open ones and builds two events per request: two thirds of a
        request's cost under h2load. The frames taken here are the common case only:
        whole HEADERS frames with END_HEADERS and END_STREAM, neither padded nor with
        priority, within the frame size, each opening a new client stream on an open
        connection with nothing of h2's own pending (a partial frame, a header block
        awaiting CONTINUATION, the preface). For each, what h2 would do to its state is
        done with h2's own objects: the block decoded by the connection's decoder, the
        stream made by h2 (its bound on open streams kept), fed RECV_HEADERS and
        RECV_END_STREAM, its content-length read; then request_received as for h2's
        RequestReceived. The first frame that is anything else ends the walk."""
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), i = 0, length
        cdef int flags, stream_id
        cdef list headers
        engine = self.h2
        incoming = engine.incoming_buffer
        if (engine.state_machine.state is not _ServerOpen or incoming._preamble_len
                or incoming._data or incoming._headers_buffer):
            return 0
        limit = engine.max_inbound_frame_size
        streams = engine.streams
        while i + 9 <= n:
            length = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2]
            flags = p[i + 4]
            stream_id = ((p[i + 5] & 0x7F) << 24) | (p[i + 6] << 16) | (p[i + 7] << 8) | p[i + 8]
            if (p[i + 3] != FRAME_HEADERS or i + 9 + length > n or length > limit
                    or flags & (FLAG_PADDED | FLAG_PRIORITY)
                    or (flags & (FLAG_END_HEADERS | FLAG_END_STREAM))
                    != FLAG_END_HEADERS | FLAG_END_STREAM
                    or not stream_id & 1 or stream_id <= engine.highest_inbound_stream_id):
                break
            if len(streams) >= self.engine_stream_bound and (
                    engine.open_inbound_streams + 1 > self.engine_stream_bound):
                break  # h2 ends the connection for it (TooManyStreamsError)
            try:
                headers = engine.decoder.decode(data[i + 9:i + 9 + length], raw=True)
            except OversizedHeaderListError:
                self.goaway(engine.highest_inbound_stream_id, ENHANCE_YOUR_CALM)
                self.close_transport()
                return i
            except HPACKError:
                self.goaway(engine.highest_inbound_stream_id, COMPRESSION_ERROR)
                self.close_transport()
                return i
            try:
                engine_stream = engine._begin_new_stream(stream_id, CLIENT_STREAMS)
                machine = engine_stream.state_machine
                step(machine, T_RECV_HEADERS, RECV_HEADERS)
                step(machine, T_RECV_END_STREAM, RECV_END_STREAM)
                engine_stream._initialize_content_length(headers)
            except H2ProtocolError as error:
                self.goaway(engine.highest_inbound_stream_id, error.error_code)
                self.close_transport()
                return i
            i += 9 + length
            self.request_received(stream_id, headers, True)
            if self.dead:
                return i
        return i

    cdef compression_error(self):
        """A header block HPACK cannot decode leaves the decoder's table unknown: a
        connection error of type COMPRESSION_ERROR (RFC 9113 4.3), where h2 queued its
        GOAWAY with PROTOCOL_ERROR. That GOAWAY, the last frame h2 holds, is replaced."""
        cdef bytes data = self.data_to_send()
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        if n >= GOAWAY_SIZE and p[n - GOAWAY_SIZE + 3] == FRAME_GOAWAY:
            data = data[:n - GOAWAY_SIZE]
        if data and not self.closed and self.lingering is None:
            self.transport.write(data)
        self.goaway(self.h2.highest_inbound_stream_id, COMPRESSION_ERROR)

    cdef malformed(self, int stream_id):
        """A malformed request or trailers (RFC 9113 8.1.1): a stream error of type
        PROTOCOL_ERROR; the connection and its other streams go on. Counted with the
        refused streams: each costs the client one frame and us a reset."""
        cdef H2Stream s = self.streams.get(stream_id)
        self.resets += 1
        if s is not None and not s.reset:
            self.reset_stream(s, PROTOCOL_ERROR)
            if self.resets > self.settings.max_reset_streams:
                self.terminate(ENHANCE_YOUR_CALM)
        else:
            self.refuse(stream_id, PROTOCOL_ERROR)

    cdef bint over_budget(self):
        return self.control_frames > self.settings.max_control_frames + self.credit

    # -- events -----------------------------------------------------------------------

    cdef handle_events(self, list events):
        cdef H2Stream s
        for event in events:
            if self.dead:
                return  # the connection was ended for what came before
            kind = type(event)
            if kind is DataReceived:
                s = self.streams.get(event.stream_id)
                if s is None and self.tunnels:
                    tunnel = self.tunnels.get(event.stream_id)
                    if tunnel is not None:
                        tunnel.received(event.data, event.flow_controlled_length)
                        continue
                if s is None or s.reset or s.cycle.response_complete:
                    # Nobody reads it (a closed stream, an answered request): the window
                    # goes back at once.
                    self.acknowledge(event.stream_id, event.flow_controlled_length)
                else:
                    data = event.data
                    padding = event.flow_controlled_length - PyBytes_GET_SIZE(data)
                    if padding:
                        self.acknowledge(event.stream_id, padding)
                    s.feed(data, PyBytes_GET_SIZE(data))
            elif kind is RequestReceived:
                self.request_received(event.stream_id, event.headers,
                                      event.stream_ended is not None)
            elif kind is StreamEnded:
                s = self.streams.get(event.stream_id)
                if s is not None and not s.request_ended and not s.reset:
                    s.finish_request()
                elif s is None and self.tunnels:
                    tunnel = self.tunnels.get(event.stream_id)
                    if tunnel is not None:
                        tunnel.remote_end()
            elif kind is WindowUpdated:
                if event.stream_id == 0:
                    self.unblock()
                    if self.tunnels:
                        for tunnel in list(self.tunnels.values()):
                            tunnel.window_opened()
                else:
                    s = self.streams.get(event.stream_id)
                    if s is not None and s.blocked:
                        self.unblock()
                    elif s is None and self.tunnels:
                        tunnel = self.tunnels.get(event.stream_id)
                        if tunnel is not None:
                            tunnel.window_opened()
            elif kind is StreamReset:
                self.stream_reset(event.stream_id, event.remote_reset)
            elif kind is RemoteSettingsChanged:
                if INITIAL_WINDOW_SIZE in event.changed_settings:
                    self.unblock()
                    for tunnel in list(self.tunnels.values()):
                        tunnel.window_opened()
                if ENABLE_PUSH in event.changed_settings:
                    self.push_allowed = bool(self.h2.remote_settings.enable_push)
            elif kind is TrailersReceived:
                # ASGI has no request trailers; the StreamEnded that follows ends the body.
                try:
                    take_regular(event.headers, 0, [], False)
                except HeaderError:
                    self.malformed(event.stream_id)
            elif kind is PingAckReceived:
                if event.ping_data == PING_DATA and self.goaway_stage == 1:
                    self.final_goaway()
            elif kind is ConnectionTerminated:
                self.peer_goaway(event.error_code, event.last_stream_id)
                if self.closed:
                    return

    cdef request_received(self, int stream_id, list headers, bint ended):
        cdef H2Stream s
        cdef bytes path, authority, method_bytes, host, protocol
        cdef list fields
        if self.closing and stream_id > self.last_stream_id:
            self.refuse(stream_id, REFUSED_STREAM)
            return
        if self.open_streams >= self.settings.max_concurrent_streams:
            self.resets += 1
            self.refuse(stream_id, REFUSED_STREAM)
            return
        try:
            # RFC 9113 8.2 and 8.3, with :protocol refused unless extended CONNECT (RFC 8441)
            # was advertised.
            method_bytes, _, authority, path, protocol, host, fields = check_request(
                headers, self.extended_connect)
        except HeaderError:
            self.malformed(stream_id)
            return
        method = METHODS.get(method_bytes)
        if method is None:
            method = method_bytes.decode("latin-1")
        if method is M_CONNECT:
            if protocol is None:
                self.respond_directly(stream_id, 501, b"CONNECT is not supported.", ended)
                return
            if authority is not None and host is None:
                fields.insert(0, (H_HOST, authority))
            self.open_tunnel(stream_id, protocol, path, fields, ended)
            return
        if not (path.startswith(b"/") or (path == b"*" and method == "OPTIONS")):
            self.malformed(stream_id)
            return
        if authority is not None and host is None:
            fields.insert(0, (H_HOST, authority))
        s = self.new_stream(stream_id, self.build_scope(method, path, fields, True),
                            method is M_HEAD)
        if ended:
            s.finish_request()
        self.to_start.append(s)

    cdef dict build_scope(self, str method, bytes target, list fields, bint may_push):
        cdef Py_ssize_t end, q
        cdef bytes raw_path, query
        q = target_query(PyBytes_AS_STRING(target), PyBytes_GET_SIZE(target), &end)
        if q < 0:
            raw_path = target if end == PyBytes_GET_SIZE(target) else target[:end]
            query = EMPTY
        else:
            raw_path = target[:q]
            query = target[q + 1:end]
        scope = http_scope(self.state, self.scope_template, V_2, method, raw_path, query,
                           fields, self.tls)
        extensions = scope["extensions"]
        extensions[X_TRAILERS] = {}
        extensions[X_EARLY_HINT] = {}
        if may_push and self.push_allowed:
            extensions[X_PUSH] = {}
        return scope

    cdef open_tunnel(self, int stream_id, bytes protocol, bytes path, list fields,
                     bint ended):
        """An extended CONNECT (RFC 8441 4): the WebSocket core runs on the stream, which
        is its transport (h2tunnel.StreamTransport); it answers the request itself
        (:status 200, or a 400 for a bad handshake, or the app's denial)."""
        global StreamTransport
        if protocol != PROTOCOL_WEBSOCKET:
            self.respond_directly(stream_id, 501, b"Unsupported :protocol.", ended)
            return
        if ended:
            # No DATA may follow: nothing to carry a WebSocket.
            self.respond_directly(stream_id, 400, b"A WebSocket stream cannot be ended "
                                  b"by its request's HEADERS.", True)
            return
        if not path.startswith(b"/"):
            self.malformed(stream_id)
            return
        if self.connect_handler is None:
            from fastcorn.protocol.websocket import websocket_connect
            self.connect_handler = websocket_connect(self.state, self.config)
        if StreamTransport is None:
            from fastcorn.protocol.h2tunnel import StreamTransport
        core = self.connect_handler(self.build_scope(M_CONNECT, path, fields, False), EMPTY)
        tunnel = StreamTransport(self, stream_id, core)
        self.tunnels[stream_id] = tunnel
        self.open_streams += 1
        self.deadline = 0
        core.connection_made(tunnel)

    cdef tunnel_done(self, object tunnel):
        stream_id = tunnel.stream_id
        if self.tunnels.get(stream_id) is tunnel:
            del self.tunnels[stream_id]
            self.open_streams -= 1
        self.after_stream()

    cdef bint idle(self):
        return not self.streams and not self.tunnels

    cdef after_stream(self):
        """A stream of either kind is gone: close a closing connection once none is left,
        else arm the idle timeout."""
        if self.idle() and not self.closed:
            if self.closing:
                if self.goaway_stage != 1:
                    self.flush_soon()  # closes once flushed
            else:
                self.deadline = self.state.now + self.state.timeout_keep_alive

    cdef H2Stream new_stream(self, int stream_id, dict scope, bint is_head):
        cdef H2Stream s = H2Stream.__new__(H2Stream)
        cdef HTTPCycle cycle = HTTPCycle.__new__(HTTPCycle)
        cycle.init(self.state, s, scope)
        s.conn = self
        s.stream_id = stream_id
        s.cycle = cycle
        s.is_head = is_head
        s.declared_length = -1
        s.out = EMPTY
        s.counted = True
        s.engine_stream = self.h2.streams.get(stream_id)
        s.writing_paused = self.transport_paused
        self.open_streams += 1
        self.streams[stream_id] = s
        self.deadline = 0
        return s

    cdef start_streams(self):
        """Start the apps of the streams this read opened, unless already reset in it."""
        cdef H2Stream s
        cdef ServerState state = self.state
        if not self.to_start:
            return
        starting = self.to_start
        self.to_start = []
        for s in starting:
            if s.reset or self.dead:
                self.forget(s)
                continue
            if state.limit_concurrency and state.active_requests >= state.limit_concurrency:
                s.cycle.response_complete = True
                s.cycle.disconnect()
                self.forget(s)
                self.respond_directly(s.stream_id, 503, b"Service Unavailable",
                                      s.request_ended)
                continue
            s.started = True
            s.cycle.task = self.spawn(s.cycle.coroutine())

    cdef stream_reset(self, int stream_id, bint by_client):
        cdef H2Stream s = self.streams.get(stream_id)
        if s is None and self.tunnels:
            tunnel = self.tunnels.get(stream_id)
            if tunnel is not None:
                tunnel.remote_reset()
            return
        if s is None or s.reset:
            return
        s.reset = True
        self.unlist(s)
        if by_client and not s.response_ended:
            self.resets += 1
        s.cycle.disconnect()
        if not s.started:
            self.forget(s)
        elif not s.app_done:
            if not s.cycle.response_started:
                # Work for a request its client cancelled (rapid reset): the app has until
                # the next sweep to notice http.disconnect, then it is cancelled. Until it
                # returns, it holds its stream's place against the concurrency limit.
                self.cancelling.append(s)
        else:
            self.forget(s)
        if self.resets > self.settings.max_reset_streams:
            self.terminate(ENHANCE_YOUR_CALM)

    cdef respond_directly(self, int stream_id, int status, bytes body, bint request_ended):
        """A response of the server's own, on a stream no app runs for."""
        fields = [STATUS_FIELDS[status], (H_CONTENT_TYPE, TEXT_PLAIN),
                  (H_CONTENT_LENGTH, str(len(body)).encode())]
        fields.extend(self.default_fields())
        try:
            self.h2.send_headers(stream_id, fields)
            self.h2.send_data(stream_id, body, end_stream=True)
        except H2ProtocolError:
            self.refuse(stream_id, REFUSED_STREAM)
            return
        if not request_ended:
            self.refuse(stream_id, NO_ERROR)  # the request is still arriving: stop it

    cdef refuse(self, int stream_id, int error_code):
        try:
            self.h2.reset_stream(stream_id, error_code)
        except H2ProtocolError:
            pass  # already closed
        if self.resets > self.settings.max_reset_streams:
            self.terminate(ENHANCE_YOUR_CALM)

    # -- responses ----------------------------------------------------------------------

    cdef send_head(self, H2Stream s, int status, list headers, bytes body, bint more_body):
        cdef Py_ssize_t declared = -1, size = PyBytes_GET_SIZE(body), i
        cdef bint no_body = status == 204 or status == 304
        cdef list fields
        cdef bytes name
        if s.reset or self.closed:
            return
        fields = [STATUS_FIELDS[status]]
        # the app's fields, lowercased and checked (RFC 9113 8.2); none, so no stale
        # length, where there is no content (RFC 9110 8.6). Raises HeaderError.
        add_outbound(fields, headers, False, no_body)
        if not no_body:
            for i in range(1, len(fields)):
                field = fields[i]
                name = field[0]
                if PyBytes_GET_SIZE(name) == 14 and name == H_CONTENT_LENGTH:
                    try:
                        declared = int(field[1])
                    except ValueError:
                        raise RuntimeError(f"invalid content-length {field[1]!r}") from None
        if declared < 0 and not more_body and not no_body and (size or not s.is_head):
            fields.append((H_CONTENT_LENGTH, str(size).encode()))
        if s.is_head or no_body:
            s.declared_length = -1
            body = EMPTY
            size = 0
        else:
            s.declared_length = declared
            if declared >= 0 and (size > declared or (not more_body and size < declared)):
                raise RuntimeError(f"response body of {size} bytes does not match its "
                                   f"content-length {declared}")
        fields.extend(self.default_fields())
        end = not more_body and not size and not s.cycle.trailers
        self.send_headers(s, fields, end, False)
        s.written_length = size
        if end:
            s.end_pending = False
            self.response_done(s)
        else:
            s.out = body
            s.out_pos = 0
            s.end_pending = not more_body and not s.cycle.trailers
            self.push_out(s)
        self.flush_soon()

    cdef send_body(self, H2Stream s, bytes body, bint more_body):
        cdef Py_ssize_t size = PyBytes_GET_SIZE(body)
        if s.reset or self.closed:
            return
        if s.is_head or s.cycle.status == 204 or s.cycle.status == 304:
            body = EMPTY
            size = 0
        elif s.declared_length >= 0:
            s.written_length += size
            if s.written_length > s.declared_length or (
                    not more_body and s.written_length < s.declared_length):
                self.reset_stream(s, INTERNAL_ERROR)
                self.flush_soon()
                raise RuntimeError(
                    f"response body of {s.written_length} bytes does not match its "
                    f"content-length {s.declared_length}: stream reset")
        if s.out_pos < PyBytes_GET_SIZE(s.out):
            s.out = s.out[s.out_pos:] + body  # the cycle waits while output is pending
        else:
            s.out = body
        s.out_pos = 0
        s.end_pending = not more_body and not s.cycle.trailers
        self.push_out(s)
        self.flush_soon()

    cdef bint push_out(self, H2Stream s) except -1:
        """Send what the windows allow of the stream's pending output; END_STREAM or the
        trailers once it is all out. True when nothing is left."""
        cdef Py_ssize_t remaining, room, frame
        cdef bytes chunk
        cdef bint last
        engine = self.h2
        if s.reset or self.closed:
            return True
        engine_stream = s.engine_stream if engine.state_machine.state is _ServerOpen else None
        remaining = PyBytes_GET_SIZE(s.out) - s.out_pos
        if self.transport_paused and remaining:
            # The client is not reading: the transport holds enough already.
            self.block(s)
            return False
        while remaining > 0:
            room = self.data_frame_room(engine_stream, s.stream_id)
            if room <= 0:
                self.block(s)
                return False
            frame = min(remaining, room)
            if frame == remaining and s.out_pos == 0:
                chunk = s.out
            else:
                chunk = s.out[s.out_pos:s.out_pos + frame]
            s.out_pos += frame
            remaining -= frame
            last = remaining == 0 and s.end_pending and s.trailer_fields is None
            self.write_data(engine_stream, s.stream_id, chunk, last)
            if last:
                s.end_pending = False
                s.out = EMPTY
                s.out_pos = 0
                self.response_done(s)
                return True
        s.out = EMPTY
        s.out_pos = 0
        if s.end_pending:
            s.end_pending = False
            if s.trailer_fields is not None:
                self.send_headers(s, s.trailer_fields, True, False)
                s.trailer_fields = None
            elif engine_stream is not None:
                step(engine_stream.state_machine, T_SEND_END_STREAM, SEND_END_STREAM)
                engine._data_to_send += frame_head(0, FRAME_DATA, FLAG_END_STREAM, s.stream_id)
            else:
                engine.end_stream(s.stream_id)
            self.response_done(s)
        self.unlist(s)
        if s.writing_paused and not self.transport_paused:
            s.writing_paused = False
            s.cycle.wake_writer()
        return True

    # -- frames out, on h2's state ------------------------------------------------------
    # h2's send_headers / send_data build hyperframe objects (a Flags set each), a
    # validation-flags tuple, a generator per serialisation: about half of a request's
    # cost. For a stream h2 knows on an open connection, the frames are written here into
    # h2's own output buffer, after the same stream state-machine inputs h2 would give
    # (its checks, its closing of the stream) and with the same window accounting; h2's
    # connection state machine stays in SERVER_OPEN for these inputs. Anything else goes
    # through h2's methods unchanged.

    cdef int send_headers(self, H2Stream s, list fields, bint end_stream,
                          bint informational) except -1:
        """A HEADERS frame (and CONTINUATIONs past the frame size) for the stream."""
        cdef bytes block
        cdef Py_ssize_t size, limit, pos
        engine = self.h2
        engine_stream = s.engine_stream
        if engine_stream is None or engine.state_machine.state is not _ServerOpen:
            engine.send_headers(s.stream_id, fields, end_stream=end_stream)
            return 0
        machine = engine_stream.state_machine
        # the state first: encoding changes the compression context for good
        if informational:
            step(machine, T_SEND_INFORMATIONAL_HEADERS, SEND_INFORMATIONAL_HEADERS)
        else:
            step(machine, T_SEND_HEADERS, SEND_HEADERS)
        block = engine.encoder.encode(fields)
        if end_stream:
            step(machine, T_SEND_END_STREAM, SEND_END_STREAM)
        size = PyBytes_GET_SIZE(block)
        limit = engine.max_outbound_frame_size
        out = engine._data_to_send
        if size <= limit:
            out += frame_head(size, FRAME_HEADERS, FLAG_END_HEADERS | (
                FLAG_END_STREAM if end_stream else 0), s.stream_id)
            out += block
            return 0
        out += frame_head(limit, FRAME_HEADERS, FLAG_END_STREAM if end_stream else 0,
                          s.stream_id)
        out += block[:limit]
        pos = limit
        while pos < size:
            frame = min(limit, size - pos)
            out += frame_head(frame, FRAME_CONTINUATION,
                              FLAG_END_HEADERS if pos + frame == size else 0, s.stream_id)
            out += block[pos:pos + frame]
            pos += frame
        return 0

    cdef int send_data(self, object engine_stream, int stream_id, bytes chunk,
                       bint end_stream) except -1:
        """A DATA frame within the windows (push_out checked them), counted against
        both as h2 counts them."""
        cdef Py_ssize_t size = PyBytes_GET_SIZE(chunk)
        engine = self.h2
        machine = engine_stream.state_machine
        step(machine, T_SEND_DATA, SEND_DATA)
        if end_stream:
            step(machine, T_SEND_END_STREAM, SEND_END_STREAM)
        engine_stream.outbound_flow_control_window -= size
        engine.outbound_flow_control_window -= size
        out = engine._data_to_send
        out += frame_head(size, FRAME_DATA, FLAG_END_STREAM if end_stream else 0, stream_id)
        if size:
            out += chunk
        return 0

    cdef Py_ssize_t data_frame_room(self, object engine_stream, int stream_id) except? -1:
        """The most one DATA frame on the stream may carry now (0 or less: a window is
        shut): the windows read off h2's counters on the fast path (``engine_stream``
        given), asked of h2 otherwise, within the peer's frame size."""
        cdef Py_ssize_t window
        engine = self.h2
        if engine_stream is not None:
            window = min(<Py_ssize_t>engine.outbound_flow_control_window,
                         <Py_ssize_t>engine_stream.outbound_flow_control_window)
        else:
            window = engine.local_flow_control_window(stream_id)
        return min(window, <Py_ssize_t>engine.max_outbound_frame_size)

    cdef int write_data(self, object engine_stream, int stream_id, bytes chunk,
                        bint end_stream) except -1:
        """One DATA frame within data_frame_room: on the fast path or through h2."""
        if engine_stream is not None:
            self.send_data(engine_stream, stream_id, chunk, end_stream)
        else:
            self.h2.send_data(stream_id, chunk, end_stream=end_stream)
        self.credit += CREDIT_PER_DATA_FRAME
        return 0

    cdef block(self, H2Stream s):
        s.writing_paused = True
        if not s.blocked:
            s.blocked = True
            self.blocked.append(s)

    cdef unlist(self, H2Stream s):
        if s.blocked:
            s.blocked = False
            if s in self.blocked:
                self.blocked.remove(s)

    cdef unblock(self):
        """A window opened (or the transport drained): send what streams hold, in order."""
        cdef H2Stream s
        if not self.blocked:
            return
        for s in list(self.blocked):
            if not s.blocked:
                continue
            if not self.push_out(s):
                if self.h2.outbound_flow_control_window <= 0 or self.transport_paused:
                    break
        self.flush_soon()

    cdef response_done(self, H2Stream s):
        """END_STREAM handed to h2: the response is whole."""
        s.response_ended = True
        if not s.request_ended and not s.reset:
            # Answered before the request body ended (RFC 9113 8.1): stop the upload.
            s.reset = True
            try:
                self.h2.reset_stream(s.stream_id, NO_ERROR)
            except H2ProtocolError:
                pass
            s.cycle.drop_body()
        if s.held is not None:
            s.held = None
        if s.unacked:
            self.acknowledge(s.stream_id, s.unacked)
            s.unacked = 0
        self.release(s)
        if s.app_done:
            self.forget(s)

    cdef release(self, H2Stream s):
        if s.counted:
            s.counted = False
            self.open_streams -= 1

    cdef forget(self, H2Stream s):
        """Neither its app nor its output needs the stream any more."""
        self.release(s)
        self.unlist(s)
        if self.streams.get(s.stream_id) is s:
            del self.streams[s.stream_id]
        engine_stream = s.engine_stream
        if engine_stream is not None:
            s.engine_stream = None
            machine = engine_stream.state_machine
            if machine.state is STREAM_CLOSED_STATE:
                # h2 drops a closed stream only when it next counts the open ones, which
                # requests taken by receive_requests never make it do: dropped here as
                # h2 drops it, its way of closing remembered (the stream's closed and
                # closed_by, read off its state machine).
                engine = self.h2
                if engine.streams.get(s.stream_id) is engine_stream:
                    del engine.streams[s.stream_id]
                    engine._closed_streams[s.stream_id] = machine.stream_closed_by
        self.after_stream()

    cdef reset_stream(self, H2Stream s, int error_code):
        if s.reset:
            return
        s.reset = True
        s.response_ended = True
        s.cycle.disconnect()
        try:
            self.h2.reset_stream(s.stream_id, error_code)
        except H2ProtocolError:
            pass
        if s.unacked:
            self.acknowledge(s.stream_id, s.unacked)
            s.unacked = 0
        self.unlist(s)
        self.release(s)
        if s.app_done or not s.started:
            self.forget(s)

    cdef list default_fields(self):
        """The server's default headers (a new list each second), checked as the app's
        are, once per list."""
        cdef list given = self.state.default_headers
        if given is not self.defaults_given:
            fields = []
            add_outbound(fields, given, False, False)
            self.defaults = fields
            self.defaults_given = given
        return self.defaults

    cdef acknowledge(self, int stream_id, Py_ssize_t size):
        if size > 0 and not self.closed:
            self.h2.acknowledge_received_data(size, stream_id)

    # -- writing ----------------------------------------------------------------------

    cdef flush(self):
        data = self.data_to_send()
        if data and not self.closed and self.lingering is None and \
                not self.transport.is_closing():
            self.transport.write(data)

    cdef flush_soon(self):
        """One write per loop turn for everything the apps sent in it."""
        if not self.flush_scheduled and not self.closed:
            self.flush_scheduled = True
            self.runtime.call_soon(self.flush_callback)

    def _flush(self):
        self.flush_scheduled = False
        if self.closed:
            return
        self.flush()
        if self.closing and self.idle() and self.goaway_stage != 1:
            self.close_transport()

    # -- closing ----------------------------------------------------------------------

    cdef goaway(self, int last_stream_id, int error_code):
        """A GOAWAY of our own, outside h2's state machine: h2 would refuse to send
        anything more after it, and in-flight streams must still be answered."""
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = error_code
        self.closing = True
        self.last_stream_id = min(self.last_stream_id, last_stream_id)
        if not self.closed and self.lingering is None:
            self.flush()  # what h2 holds goes first
            self.transport.write(frame.serialize())

    cdef terminate(self, int error_code):
        """End the connection now (a hostile client): GOAWAY, then close; every stream's
        app sees the disconnect, and those cancelled by the client are cancelled."""
        cdef H2Stream s
        if self.closed:
            return
        self.goaway(self.h2.highest_inbound_stream_id, error_code)
        for s in self.cancelling:
            if not s.app_done and s.cycle.task is not None:
                self.runtime.cancel(s.cycle.task)
        self.cancelling = []
        self.close_transport()

    cdef close_transport(self):
        """Close after our last frame without destroying it: a lingering close, as
        HTTP/1.1's (linger.pxd). Closing with unread input makes the kernel send a RST, and
        a client may lose our GOAWAY with it: a flood still arriving when it is cut always
        does. The apps see the disconnect now."""
        self.closing = True
        self.dead = True
        self.deadline = 0
        if self.closed or self.lingering is not None or self.transport.is_closing():
            return
        self.lingering = begin_lingering(self.transport, self.state.now)
        if self.lingering is None:  # the client is already gone
            self.transport.close()
            return
        self.release_streams(None)
        if self.state.log_connection is not None:
            self.state.log_connection("lingering close", self.client)
        self.transport.resume_reading()

    cdef peer_goaway(self, int error_code, int last_stream_id):
        # h2 stops sending once it has a GOAWAY; the streams in flight are still ours to
        # answer (RFC 9113 6.8), so its state machine is told the connection is open.
        self.closing = True
        if error_code != NO_ERROR:
            self.close_transport()
            return
        self.h2.state_machine.state = _ServerOpen
        if self.idle():
            self.close_transport()

    cdef final_goaway(self):
        self.goaway_stage = 2
        self.goaway(self.h2.highest_inbound_stream_id, NO_ERROR)
        if self.idle():
            self.close_transport()

    # -- the server's side ------------------------------------------------------------

    def check_timeout(self, double now):
        cdef H2Stream s
        if self.closed:
            return
        if self.write_deadline and now >= self.write_deadline:
            self.write_deadline = 0
            self.closing = True
            self.transport.abort()  # the client stopped reading
            return
        if self.lingering is not None:
            self.lingering.due(now)
            return
        if self.cancelling:
            still = []
            for s in self.cancelling:
                if s.app_done:
                    continue
                if s.cancel_due:
                    if s.cycle.task is not None:
                        self.runtime.cancel(s.cycle.task)
                else:
                    s.cancel_due = True
                    still.append(s)
            self.cancelling = still
        if self.goaway_stage == 1 and now >= self.window_end:
            self.final_goaway()  # no PING ACK within the window: go on without it
        if self.tunnels:
            for tunnel in list(self.tunnels.values()):
                tunnel.protocol.check_timeout(now)
        if self.deadline and now >= self.deadline and self.idle():
            self.deadline = 0
            self.goaway(self.h2.highest_inbound_stream_id, NO_ERROR)
            self.close_transport()

    def shutdown(self):
        """Graceful shutdown, the two steps of RFC 9113 6.8: a GOAWAY announcing the
        largest stream id (new streams may still be in flight) with a PING, then on its
        ACK a GOAWAY with the last stream served. In-flight streams finish."""
        if self.closed or self.dead or self.goaway_stage:
            return
        self.goaway_stage = 1
        # The PING first: a client on the h2 package stops reading frames at a GOAWAY.
        self.h2.ping(PING_DATA)
        for tunnel in list(self.tunnels.values()):
            # WebSocket: close 1001, as on HTTP/1.1; before the GOAWAY, for the same reason
            tunnel.protocol.shutdown()
        self.goaway(MAX_STREAM_ID, NO_ERROR)
        self.window_end = self.state.now + 2  # the ACK's deadline (check_timeout)
        self.flush()

    def abort(self):
        """The shutdown deadline passed: 503 for streams not yet answered, reset those in
        the middle of a response, cancel the apps, close."""
        cdef H2Stream s
        if self.closed:
            return
        if self.lingering is not None:
            self.lingering.end()
            return
        for s in list(self.streams.values()):
            if s.reset:
                continue
            if not s.cycle.response_started:
                s.cycle.response_complete = True
                s.reset = True
                self.respond_directly(s.stream_id, 503, b"Service Unavailable",
                                      s.request_ended)
            elif not s.response_ended:
                try:
                    self.h2.reset_stream(s.stream_id, CANCEL)
                except H2ProtocolError:
                    pass
            s.reset = True
            s.cycle.disconnect()
            if s.started and not s.app_done and s.cycle.task is not None:
                self.runtime.cancel(s.cycle.task)
        for tunnel in list(self.tunnels.values()):
            tunnel.protocol.abort()
        self.goaway(self.h2.highest_inbound_stream_id, NO_ERROR)
        self.close_transport()

    # -- h2c --------------------------------------------------------------------------

    cdef start_upgrade(self):
        """Stream 1 answers the HTTP/1.1 request that asked for the upgrade."""
        cdef H2Stream s
        scope, body, _ = self.upgrade
        self.upgrade = None
        scope = dict(scope)
        scope["http_version"] = V_2
        scope["headers"] = [(name, value) for name, value in scope["headers"]
                            if name not in HOP_BY_HOP]
        extensions = dict(scope.get("extensions") or {})
        extensions[X_TRAILERS] = {}
        extensions[X_EARLY_HINT] = {}
        self.push_allowed = bool(self.h2.remote_settings.enable_push)
        if self.push_allowed:
            extensions[X_PUSH] = {}
        scope["extensions"] = extensions
        s = self.new_stream(1, scope, scope["method"] == M_HEAD)
        if body:
            s.cycle.feed_body(body)
        s.request_ended = True
        s.cycle.end_body()
        self.to_start.append(s)
        self.start_streams()


# -- h2c upgrade ------------------------------------------------------------------------------

def h2c_upgrade(ServerState state, object config):
    """The UpgradeHandler for ``Upgrade: h2c`` (RFC 7540 3.2): given the HTTP/1.1 scope and
    body of an upgrade request, the HTTP/2 core that answers it on stream 1, or None to
    serve it as plain HTTP/1.1 (no or several HTTP2-Settings, a bad one, TLS, or
    HTTP2-Settings not named in Connection)."""

    def upgrade(dict scope, bytes body):
        if scope.get("scheme") != S_HTTP:
            return None  # h2c is cleartext only; TLS negotiates h2 by ALPN
        settings = None
        connection = []
        for name, value in scope["headers"]:
            if name == b"http2-settings":
                if settings is not None:
                    return None
                settings = value
            elif name == b"connection":
                connection.extend(t.strip().lower() for t in value.split(b","))
        if settings is None or b"upgrade" not in connection or b"http2-settings" not in connection:
            return None
        if not valid_settings(settings):
            return None
        return H2Connection(state, config, (scope, body, settings))

    return upgrade


cdef bint valid_settings(bytes header):
    """HTTP2-Settings: base64url SETTINGS payload (6-octet entries) with values h2 takes."""
    header = header.strip().rstrip(b"=")
    if header.strip(BASE64URL):
        return False  # a character outside base64url (the decoder would skip it)
    try:
        payload = b64decode(header + b"=" * (-len(header) % 4))
    except (Base64Error, ValueError):
        return False
    if len(payload) % 6:
        return False
    for i in range(0, len(payload), 6):
        ident = (payload[i] << 8) | payload[i + 1]
        value = int.from_bytes(payload[i + 2:i + 6], "big")
        if ident == 2 and value > 1:
            return False
        if ident == 4 and value > 0x7FFFFFFF:
            return False
        if ident == 5 and not 16384 <= value <= 16777215:
            return False
        if ident == 8 and value > 1:
            return False
    return True

"""A Transport over one HTTP/2 stream, for a core run on an extended CONNECT (RFC 8441).

The WebSocket core is written against fastcorn.protocol.base.Transport; on HTTP/2 its
connection is a stream, and this is that stream seen as a transport (see h2tunnel.pxd for
the call flow). What a TCP transport does with its socket it does with frames:

- write: DATA frames within the stream's and the connection's windows, written into h2's
  buffer on h2's own stream state (H2Connection.send_data, as the HTTP responses are); the
  rest waits for WINDOW_UPDATE. Past HIGH_WATER queued bytes the core is told
  pause_writing (send() then waits), resume_writing once down to LOW_WATER.
- pause/resume reading: DATA that arrives while paused is held, and its window is not
  given back, so the client stops at the stream window (RFC 9113 5.2): the same
  backpressure as a TCP socket that is not read.
- close: END_STREAM after what is queued (the TCP FIN of RFC 8441 4); if the client has
  not ended its side by then, RST_STREAM(NO_ERROR) tells it to stop (RFC 9113 8.1), and
  the core gets connection_lost on the next loop turn, as from a closed socket.
- abort: RST_STREAM(CANCEL) at once.
- the client's END_STREAM is eof_received, its RST_STREAM (or the connection's loss) is
  connection_lost: the WebSocket app hears 1006 unless a close frame came first.

Everything goes out with the HTTP/2 core's one write per read or per loop turn
(flush_soon); the connection's other streams carry on whatever this one does.
"""

from cpython.bytes cimport PyBytes_GET_SIZE

from h2.connection import ConnectionState as _ConnectionState
from h2.exceptions import ProtocolError as _ProtocolError

from fastcorn.protocol.h2 cimport H2Connection
from fastcorn.protocol.h2headers cimport add_outbound

cdef object H2ProtocolError = _ProtocolError
cdef object SERVER_OPEN = _ConnectionState.SERVER_OPEN
cdef bytes EMPTY = b""
cdef bytes H_STATUS = b":status"

cdef enum:
    # Queued output (bytes not yet within a window) past which the core is told to stop
    # writing, and below which it may go on: asyncio's transport marks.
    HIGH_WATER = 64 * 1024
    LOW_WATER = 16 * 1024
    NO_ERROR = 0
    CANCEL = 8


cdef class StreamTransport:
    """One HTTP/2 stream as the Transport of the core that runs on it."""

    def __init__(self, H2Connection conn, int stream_id, object protocol):
        self.conn = conn
        self.stream_id = stream_id
        self.protocol = protocol
        self.engine_stream = conn.h2.streams.get(stream_id)
        self.out = EMPTY

    # -- Transport: the core's side ---------------------------------------------------

    def write(self, data):
        if self.end_pending or self.reset or self.lost:
            return
        cdef bytes chunk = data if type(data) is bytes else bytes(data)
        if PyBytes_GET_SIZE(chunk) == 0:
            return
        if self.out_pos < PyBytes_GET_SIZE(self.out):
            self.out = self.out[self.out_pos:] + chunk
        else:
            self.out = chunk
        self.out_pos = 0
        self.push()
        if self.writing_paused or PyBytes_GET_SIZE(self.out) - self.out_pos > HIGH_WATER:
            self.update_writing()
        self.conn.flush_soon()

    def send_head(self, int status, list fields, bint end_stream):
        """The response's HEADERS: ``:status``, the core's fields (checked as an app's
        are, RFC 9113 8.2; no content-length in a 2xx answer to CONNECT, RFC 9110 8.6),
        the server's default fields."""
        cdef H2Connection conn = self.conn
        cdef list head
        if self.head_sent or self.reset or self.lost or conn.closed:
            return
        head = [(H_STATUS, str(status).encode())]
        add_outbound(head, fields, False, 200 <= status < 300)
        head.extend(conn.default_fields())
        self.head_sent = True
        try:
            conn.h2.send_headers(self.stream_id, head, end_stream=end_stream)
        except H2ProtocolError:
            self.reset = True  # the stream closed under us
            self.finish()
            return
        if end_stream:
            self.end_pending = True
            self.ended()
        conn.flush_soon()

    def write_eof(self):
        if self.end_pending or self.reset or self.lost:
            return
        self.end_pending = True
        self.push()
        self.conn.flush_soon()

    def can_write_eof(self):
        return True

    def close(self):
        if self.closing or self.lost:
            return
        self.closing = True
        if self.reset:
            self.finish()
            return
        if self.local_ended:
            self.ended()
        else:
            self.end_pending = True
            self.push()
        self.conn.flush_soon()

    def abort(self):
        if self.lost:
            return
        self.closing = True
        self.out = EMPTY
        self.out_pos = 0
        self.held = None
        if not self.reset:
            self.reset = True
            try:
                self.conn.h2.reset_stream(self.stream_id, CANCEL)
            except H2ProtocolError:
                pass  # already closed
            self.conn.flush_soon()
        self.finish()

    def is_closing(self):
        return self.closing or self.end_pending or self.reset or self.lost

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False
        if (self.held is not None or self.eof_owed) and not self.delivery_scheduled:
            # On the next loop turn, as a socket would: never inside the core's own call.
            self.delivery_scheduled = True
            self.conn.runtime.call_soon(self._deliver)

    def get_extra_info(self, name, default=None):
        return self.conn.transport.get_extra_info(name, default)

    def set_protocol(self, protocol):
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol

    # -- the HTTP/2 core's side -------------------------------------------------------

    def received(self, bytes data, Py_ssize_t flow):
        """DATA on the stream: to the core, its window given back once the core has it;
        held, with its window, while the core does not read."""
        if self.lost or self.reset:
            self.conn.acknowledge(self.stream_id, flow)  # nobody reads it
            return
        if self.reading_paused or self.held is not None or self.delivery_scheduled:
            if self.held is None:
                self.held = bytearray()
            self.held += data
            self.held_flow += flow
            return
        self.protocol.data_received(data)
        self.conn.acknowledge(self.stream_id, flow)

    def remote_end(self):
        """The client's END_STREAM: its half-close, told after what is held."""
        self.remote_ended = True
        if self.lost or self.reset:
            return
        if self.reading_paused or self.held is not None or self.delivery_scheduled:
            self.eof_owed = True
            return
        if not self.protocol.eof_received():
            self.close()

    def remote_reset(self):
        """RST_STREAM from the client: the core's connection is lost."""
        self.reset = True
        self.remote_ended = True
        self.out = EMPTY
        self.out_pos = 0
        self.held = None
        self._finish()

    def gone(self, exc):
        """The HTTP/2 connection itself ended."""
        if self.lost:
            return
        self.lost = True
        self.reset = True
        self.protocol.connection_lost(exc)

    def window_opened(self):
        """A WINDOW_UPDATE, new SETTINGS or a drained transport: send what waits."""
        if self.lost or self.reset:
            return
        if self.end_pending and not self.local_ended or self.out_pos < PyBytes_GET_SIZE(self.out):
            self.push()
            self.conn.flush_soon()
        self.update_writing()

    def transport_paused(self):
        self.update_writing()

    # -- internals ----------------------------------------------------------------------

    cdef Py_ssize_t pending(self):
        return PyBytes_GET_SIZE(self.out) - self.out_pos

    cdef push(self):
        """DATA frames for what is queued, as far as the windows allow; END_STREAM after
        the last byte when it is owed."""
        cdef H2Connection conn = self.conn
        cdef Py_ssize_t remaining = self.pending(), room, frame
        cdef bytes chunk
        cdef bint last = False
        if self.reset or self.lost or self.local_ended or conn.closed:
            return
        if conn.transport_paused and remaining:
            return  # the client is not reading; window_opened() once it does
        engine = conn.h2
        engine_stream = self.engine_stream if engine.state_machine.state is SERVER_OPEN else None
        try:
            while remaining > 0:
                room = conn.data_frame_room(engine_stream, self.stream_id)
                if room <= 0:
                    return
                frame = min(remaining, room)
                if frame == remaining and self.out_pos == 0:
                    chunk = self.out
                else:
                    chunk = self.out[self.out_pos:self.out_pos + frame]
                self.out_pos += frame
                remaining -= frame
                last = remaining == 0 and self.end_pending
                conn.write_data(engine_stream, self.stream_id, chunk, last)
                if last:
                    break
            self.out = EMPTY
            self.out_pos = 0
            if self.end_pending:
                if not last:
                    if engine_stream is not None:
                        conn.send_data(engine_stream, self.stream_id, EMPTY, True)
                    else:
                        engine.end_stream(self.stream_id)
                self.ended()
        except H2ProtocolError:
            # The stream closed under us (a reset crossing our frames): lost to the core.
            self.reset = True
            self.out = EMPTY
            self.out_pos = 0
            self.finish()

    cdef update_writing(self):
        """Tell the core to stop or resume writing, as a transport does at its marks."""
        cdef Py_ssize_t queued = self.pending()
        if self.lost:
            return
        if self.conn.transport_paused or queued > HIGH_WATER:
            if not self.writing_paused:
                self.writing_paused = True
                self.protocol.pause_writing()
        elif self.writing_paused and queued <= LOW_WATER:
            self.writing_paused = False
            self.protocol.resume_writing()

    cdef ended(self):
        """END_STREAM is with h2. After close(), the stream is over for the core."""
        self.local_ended = True
        if not self.closing:
            return
        if not self.remote_ended and not self.reset:
            # RFC 9113 8.1: the answer is complete, the client may stop sending.
            self.reset = True
            try:
                self.conn.h2.reset_stream(self.stream_id, NO_ERROR)
            except H2ProtocolError:
                pass
        self.finish()

    cdef finish(self):
        if not self.lost and not self.delivery_scheduled:
            self.delivery_scheduled = True
            self.conn.runtime.call_soon(self._deliver)

    def _deliver(self):
        """Next loop turn: held bytes and a held END_STREAM to the core; or, once the
        stream is over, connection_lost."""
        cdef Py_ssize_t flow
        self.delivery_scheduled = False
        if self.lost:
            return
        if self.reset or (self.closing and self.local_ended):
            self._finish()
            return
        if self.reading_paused:
            return
        if self.held is not None:
            data = bytes(self.held)
            flow = self.held_flow
            self.held = None
            self.held_flow = 0
            self.protocol.data_received(data)
            self.conn.acknowledge(self.stream_id, flow)
            self.conn.flush_soon()
        if self.eof_owed and not self.reading_paused and self.held is None and not self.lost:
            self.eof_owed = False
            if not self.protocol.eof_received():
                self.close()

    def _finish(self):
        if self.lost:
            return
        self.lost = True
        self.conn.tunnel_done(self)
        self.protocol.connection_lost(None)

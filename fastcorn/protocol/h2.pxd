# The HTTP/2 connection: a protocol core (fastcorn.protocol.base.Core) on the h2 package.
#
# H2Connection does no I/O of its own and imports no event loop. h2 is the protocol engine
# (frames, HPACK, stream and connection state, flow-control accounting); this core feeds
# it bytes, turns its events into one HTTPCycle (fastcorn.asgi.cycle) per stream, exactly
# the cycle HTTP/1.1 runs, and bounds what h2 leaves unbounded (floods, rapid reset,
# buffering for a client that never reads).
#
#   backend                       H2Connection                          HTTPCycle (asgi)
#   connection_made(transport) ─▶ server preface (SETTINGS, WINDOW_UPDATE); h2c: 101 +
#                                 stream 1 from the upgrade request
#   data_received(bytes)       ─▶ count_frames (flood budgets, before h2 parses anything)
#                                 receive_requests: the leading whole HEADERS+END_STREAM
#                                   frames, on h2's own stream objects without its frame
#                                   machinery ─▶ request_received
#                                 h2.receive_data(the rest) ─▶ events
#                                   RequestReceived ─▶ scope, H2Stream + HTTPCycle
#                                   DataReceived    ─▶ cycle.feed_body (held back while the
#                                                      app has unread body: one chunk, not
#                                                      one object per tiny frame)
#                                   StreamReset     ─▶ cycle.disconnect()
#                                   WindowUpdated   ─▶ push_out(blocked streams)
#                                 apps of streams still alive ─▶ runtime.spawn(cycle.run())
#                                 flush(): ONE data_to_send(), ONE transport.write
#   app: send() ─▶ H2Stream.send_head/send_body ─▶ h2.send_headers/send_data up to the
#                  windows; the rest waits in the stream (writing_paused) until a
#                  WINDOW_UPDATE; flush_soon(): one write per loop turn for every stream
#   app: receive() drained ─▶ H2Stream.want_body ─▶ acknowledge_received_data (WINDOW_UPDATE)
#                                   extended CONNECT, :protocol websocket (RFC 8441; only
#                                   with WebSocket on, which advertises it in SETTINGS)
#                                                   ─▶ open_tunnel: a WebSocket core on the
#                                   stream through h2tunnel.StreamTransport; its DATA,
#                                   END_STREAM, RST_STREAM and windows go to that transport
#   check_timeout(now)         ─▶ idle close, write timeout, cancel reset streams' apps,
#                                 second GOAWAY of a graceful shutdown
#   shutdown()                 ─▶ GOAWAY(2^31-1) + PING, then GOAWAY(last stream) on the ACK
#
# new_engine() in h2.pyx builds the h2 connection: fastcorn.protocol.hpack's compiled codec,
# h2's own header validation off. The checks h2 would make run here instead, from
# fastcorn.protocol.h2headers: a malformed request or trailers is a stream error
# (RST_STREAM PROTOCOL_ERROR, RFC 9113 8.1.1), not the connection error h2 makes of it;
# an HPACK error ends the connection with COMPRESSION_ERROR (RFC 9113 4.3).

from fastcorn.asgi.cycle cimport HTTPCycle, ServerState, Stream
from fastcorn.protocol.linger cimport Lingering


cdef class H2Stream(Stream):
    # One request on one stream; the Stream its HTTPCycle writes to.
    cdef H2Connection conn
    cdef object engine_stream      # h2's stream object (h2.stream.H2Stream), None if unknown
    cdef readonly int stream_id
    cdef readonly HTTPCycle cycle
    cdef bint is_head
    cdef bint request_ended        # the client's END_STREAM arrived
    cdef bint started              # its app was spawned
    cdef bint app_done             # cycle_done: its app returned
    cdef bint reset                # RST_STREAM either way, or the connection went away
    cdef bint response_ended       # END_STREAM handed to h2 (or the stream is gone)
    cdef bint counted              # holds one of H2Connection.open_streams
    cdef bint blocked              # in H2Connection.blocked: output waits for a window
    cdef bint cancel_due           # reset before its response: the app is cancelled at the
                                   # next sweep unless it returned by then
    # request body
    cdef bytearray held            # DATA that arrived while the app still had body unread
    cdef Py_ssize_t unacked        # flow-controlled bytes handed to the app, not yet
                                   # acknowledged (WINDOW_UPDATE owed once it reads them)
    # response
    cdef bytes out                 # body waiting for flow-control window
    cdef Py_ssize_t out_pos
    cdef bint end_pending          # END_STREAM is owed once `out` is sent
    cdef list trailer_fields       # trailers owed (they carry the END_STREAM)
    cdef Py_ssize_t declared_length    # the app's content-length, -1 when none
    cdef Py_ssize_t written_length

    cdef feed(self, bytes data, Py_ssize_t flow)
    cdef finish_request(self)


cdef class H2Connection:
    cdef ServerState state
    cdef object settings           # fastcorn.config.HTTP2Settings
    cdef object runtime
    cdef object spawn              # runtime.spawn, cached
    cdef readonly object transport
    cdef readonly object h2        # h2.connection.H2Connection
    cdef object receive_data       # its bound methods, cached
    cdef object data_to_send
    cdef dict streams              # stream id -> H2Stream, until its app returned and its
                                   # response left
    cdef dict tunnels              # stream id -> h2tunnel.StreamTransport: extended CONNECT
                                   # streams (RFC 8441) whose core runs on the stream
    cdef object config             # fastcorn.config.Config
    cdef bint extended_connect     # SETTINGS_ENABLE_CONNECT_PROTOCOL=1 sent (WebSocket is on)
    cdef object connect_handler    # :protocol websocket -> the WebSocket core (made once used)
    cdef list blocked              # streams whose output waits for a window or the transport
    cdef list to_start             # streams of this read whose app starts after it
    cdef list cancelling           # reset streams whose app still runs
    cdef Py_ssize_t open_streams   # our concurrency count (REFUSED_STREAM at the limit)
    cdef Py_ssize_t engine_stream_bound  # h2's own bound on open streams (raise_limits)
    cdef tuple client
    cdef tuple server
    cdef str scheme
    cdef object tls
    cdef dict scope_template
    cdef object upgrade            # (scope, body, HTTP2-Settings) of an h2c upgrade, once
    cdef bint closed
    cdef bint closing              # GOAWAY sent or received: no new streams
    cdef bint dead                 # closing the transport (connection_lost may come later):
                                   # nothing more is read or started
    cdef Lingering lingering       # GOAWAY sent: input read and dropped until EOF; or None
    cdef bint transport_paused
    cdef bint flush_scheduled
    cdef object flush_callback
    cdef double deadline           # idle timeout (no stream); 0 = none
    cdef double write_deadline     # the transport paused writing since
    cdef int goaway_stage          # graceful shutdown: 0, 1 (first GOAWAY + PING), 2 (final)
    cdef int last_stream_id        # streams above it are refused after the final GOAWAY
    cdef bint push_allowed
    cdef list defaults_given       # state.default_headers when `defaults` was made from it
    cdef list defaults             # those fields checked (h2headers.add_outbound)
    # flood accounting, per window of the coarse clock
    cdef double window_end
    cdef Py_ssize_t control_frames
    cdef Py_ssize_t credit         # control frames earned by requests and DATA sent
    cdef Py_ssize_t resets         # streams cancelled by the client or refused
    # the frame scanner (count_frames): where the next frame header starts
    cdef Py_ssize_t preface_left
    cdef Py_ssize_t skip
    cdef int head_len
    cdef unsigned char head[9]

    cdef int count_frames(self, bytes data) except -1
    cdef Py_ssize_t receive_requests(self, bytes data) except -1
    cdef bint over_budget(self)
    cdef compression_error(self)
    cdef release_streams(self, object exc)
    cdef malformed(self, int stream_id)
    cdef list default_fields(self)
    cdef handle_events(self, list events)
    cdef request_received(self, int stream_id, list headers, bint ended)
    cdef open_tunnel(self, int stream_id, bytes protocol, bytes path, list fields,
                     bint ended)
    cdef tunnel_done(self, object tunnel)  # from h2tunnel: the stream is over for its core
    cdef bint idle(self)           # no stream of either kind
    cdef after_stream(self)        # one went: close when closing and idle, else idle timer
    cdef H2Stream new_stream(self, int stream_id, dict scope, bint is_head)
    cdef start_streams(self)
    cdef stream_reset(self, int stream_id, bint by_client)
    cdef respond_directly(self, int stream_id, int status, bytes body, bint request_ended)
    cdef refuse(self, int stream_id, int error_code)
    cdef send_head(self, H2Stream s, int status, list headers, bytes body, bint more_body)
    cdef send_body(self, H2Stream s, bytes body, bint more_body)
    cdef bint push_out(self, H2Stream s) except -1
    # frames written into h2's buffer on h2's stream state (see h2.pyx)
    cdef int send_headers(self, H2Stream s, list fields, bint end_stream,
                          bint informational) except -1
    cdef int send_data(self, object engine_stream, int stream_id, bytes chunk,
                       bint end_stream) except -1
    # DATA out of a stream's queue (H2Stream's and the WebSocket tunnel's): how much one
    # frame may carry now, and the frame sent on the fast path or through h2
    cdef Py_ssize_t data_frame_room(self, object engine_stream, int stream_id) except? -1
    cdef int write_data(self, object engine_stream, int stream_id, bytes chunk,
                        bint end_stream) except -1
    cdef unblock(self)
    cdef unlist(self, H2Stream s)
    cdef response_done(self, H2Stream s)
    cdef release(self, H2Stream s)
    cdef forget(self, H2Stream s)
    cdef reset_stream(self, H2Stream s, int error_code)
    cdef acknowledge(self, int stream_id, Py_ssize_t size)
    cdef flush(self)
    cdef flush_soon(self)
    cdef goaway(self, int last_stream_id, int error_code)
    cdef terminate(self, int error_code)
    cdef close_transport(self)
    cdef start_upgrade(self)
    cdef raise_limits(self)
    cdef dict build_scope(self, str method, bytes target, list fields, bint may_push)
    cdef block(self, H2Stream s)
    cdef peer_goaway(self, int error_code, int last_stream_id)
    cdef final_goaway(self)

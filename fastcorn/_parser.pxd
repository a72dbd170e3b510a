# The HTTP/1.1 fast path: httptools parses, this module builds the ASGI scope and
# serializes response heads, and drives one HTTPCycle per request.
#
# H1Connection is the protocol core. It does no I/O of its own and imports no event loop:
#   backend                       H1Connection                           HTTPCycle (_asgi)
#   connection_made(transport) ─▶ remembers addresses, arms the idle timer
#   data_received(bytes)       ─▶ parser.feed_data ─▶ on_url/on_header/on_headers_complete
#                                   builds scope, H1Cycle ─▶ backend.spawn(cycle.run())
#                                 on_body ─▶ cycle.feed_body; pause reading past HIGH_WATER
#   pause/resume_writing       ─▶ Stream.writing_paused, cycle.wake_writer()
#   connection_lost(exc)       ─▶ cycle.disconnect() for every cycle it still owns
#   app: send() ─▶ send_head/send_body ─▶ transport.write(one buffer) ─▶ next pipelined cycle
#
# The transport is anything with write(), pause_reading(), resume_reading(), close(),
# is_closing() and get_extra_info(): an asyncio transport as it is, or the trio adapter.
# The backend gives spawn(coroutine) -> task, cancel(task) and create_waiter(). Timeouts
# need no backend timer: a deadline is stored against ServerState.now and the server's
# once-a-second sweep calls check_timeout(now), so re-arming per request costs a store.

from fastcorn._asgi cimport HTTPCycle, ServerState, Stream


cdef enum TimerKind:
    TIMER_NONE = 0
    TIMER_IDLE = 1      # keep-alive: nothing in flight, waiting for the next request
    TIMER_HEAD = 2      # a request head has begun and must complete in time


cdef class H1Cycle(HTTPCycle):
    # Per-request facts the HTTP/1.1 wire needs; pipelined requests each carry their own.
    cdef bint keep_alive
    cdef bint is_head
    cdef bint http10
    cdef bint expect_continue   # 100 Continue still owed
    cdef bint chunked           # response body framed with chunked coding
    cdef bint body_suppressed   # HEAD, 1xx, 204, 304: the response carries no body


cdef class H1Connection(Stream):
    cdef ServerState state
    cdef object backend
    cdef readonly object transport
    cdef object parser
    cdef object feed_data, get_method, get_http_version, should_keep_alive  # parser's, bound
    cdef object spawn           # backend.spawn, cached
    cdef double deadline        # 0 = no timeout armed
    cdef TimerKind timer_kind
    cdef tuple client
    cdef tuple server
    cdef str scheme
    cdef bint reading_paused
    cdef bint closing           # no new requests: close once the current response is sent
    # the request being parsed
    cdef bint in_head
    cdef bytes url
    cdef list headers
    cdef Py_ssize_t head_size
    cdef Py_ssize_t partial_head    # bytes fed while one head stayed incomplete (431 guard)
    cdef bint expect_continue
    cdef int error_status       # set by a callback before it raises, answered in data_received
    cdef H1Cycle parsing        # receives on_body
    cdef bint at_boundary       # the parser waits for a new message: data starts a request line
    cdef object scanned_method  # method and version read off the request line, or None
    cdef object scanned_version
    cdef dict scope_template    # what every scope of this connection shares, copied per request
    # responses go out in request order
    cdef H1Cycle cycle          # whose response is being written
    cdef object pipeline        # collections.deque of H1Cycle waiting their turn

    cdef new_parser(self)
    cdef scan_request_line(self, bytes data)
    cdef dict build_scope(self, H1Cycle cycle)
    cdef start_cycle(self, H1Cycle cycle)
    cdef response_done(self, H1Cycle cycle)
    cdef update_reading(self)
    cdef fail(self, int status)
    cdef write_error(self, int status, bint close)
    cdef arm_timer(self, TimerKind kind, double delay)
    cdef on_timeout(self, TimerKind kind)
    cdef close_transport(self)

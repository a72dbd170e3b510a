# The HTTP/1.1 connection: a protocol core (fastcorn.protocol.base.Core) on httptools.
#
# H1Connection does no I/O of its own and imports no event loop. It reads its wire with
# fastcorn/_parser (the HTTP/1.1 wire in C), builds scopes with fastcorn.asgi.scope and
# drives one HTTPCycle (fastcorn.asgi.cycle) per request, as that cycle's Stream:
#   backend                       H1Connection                           HTTPCycle (asgi)
#   connection_made(transport) ─▶ remembers addresses, arms the idle timer
#   data_received(bytes)       ─▶ parser.feed_data ─▶ on_url/on_header/on_headers_complete
#                                   builds scope, H1Cycle (unstarted); a whole plain request
#                                   at a boundary skips llhttp: feed_simple, same methods
#                               ◀─ parser returns; launch() ─▶ runtime.spawner(transport)(cycle.run())
#                                 on_body ─▶ cycle.feed_body; pause reading past HIGH_WATER
#   pause/resume_writing       ─▶ Stream.writing_paused, cycle.wake_writer()
#   connection_lost(exc)       ─▶ cycle.disconnect() for every cycle it still owns
#   app: send() ─▶ send_head/send_body ─▶ transport.write(one buffer) ─▶ next pipelined cycle
#
# The transport is fastcorn.protocol.base.Transport: an asyncio transport as it is, the
# trio adapter, or the harness' memory transport. The runtime (fastcorn.asgi.types.Runtime)
# gives spawn(coroutine) -> task, cancel(task) and create_waiter(). Timeouts need no
# runtime timer: a deadline is stored against ServerState.now and the server's
# once-a-second sweep calls check_timeout(now), so re-arming per request costs a store.

from fastcorn.asgi.cycle cimport HTTPCycle, ServerState, Stream
from fastcorn.protocol.linger cimport Lingering


cdef enum TimerKind:
    TIMER_NONE = 0
    TIMER_IDLE = 1      # keep-alive: nothing in flight, waiting for the next request
    TIMER_HEAD = 2      # a request head has begun and must complete in time
    TIMER_BODY = 3      # a request body is arriving: each read must come in time


cdef class H1Cycle(HTTPCycle):
    # Per-request facts the HTTP/1.1 wire needs; pipelined requests each carry their own.
    cdef bint keep_alive
    cdef bint is_head
    cdef bint http10
    cdef bint expect_continue   # 100 Continue still owed
    cdef bint chunked           # response body framed with chunked coding
    cdef bint body_suppressed   # HEAD, 1xx, 204, 304: the response carries no body
    cdef bint close_delimited   # an HTTP/1.0 body of no given length: the close ends it
    cdef Py_ssize_t declared_length  # the app's content-length, -1 when it gave none
    cdef Py_ssize_t written_length   # body bytes written against it


cdef class H1Connection(Stream):
    cdef ServerState state
    cdef object runtime
    cdef readonly object transport
    cdef object transport_write  # transport.write, bound once (see write)
    cdef object parser
    cdef object feed_data, get_method, get_http_version, should_keep_alive  # parser's, bound
    cdef object spawn           # runtime.spawn_eager, then spawner(transport) (see launch)
    cdef object spawn_func      # when spawn is a partial: its function and keywords,
    cdef dict spawn_keywords    # called without the partial's own layer (see __init__)
    cdef object context         # contextvars.Context at connection_made: see launch
    cdef H1Cycle unstarted      # self.cycle while its app waits for launch()
    cdef bint launching         # launch() runs an app's first step up the stack
    cdef double deadline        # 0 = no timeout armed
    cdef TimerKind timer_kind
    cdef double write_deadline  # 0 unless the transport paused writing (send timeout)
    cdef tuple client
    cdef tuple server
    cdef str scheme
    cdef object tls             # the ASGI tls extension of a TLS connection, else None
    cdef bint reading_paused
    cdef bint closing           # no new requests: close once the current response is sent
    cdef bint eof               # the client half-closed: answer what is in flight, then close
    cdef Lingering lingering    # answered and half-closed: input dropped until EOF; or None
    cdef bint input_unread      # closing with the client surely still sending (see linger)
    cdef object unparsed        # bytes held back while the pipeline is full, or None
    cdef Py_ssize_t unparsed_pos    # where in them parsing resumes
    # the request being parsed
    cdef bint in_head
    cdef bytes url
    cdef list headers
    cdef Py_ssize_t head_size
    cdef Py_ssize_t partial_head    # bytes fed while one head stayed incomplete (431 guard)
    cdef Py_ssize_t heads_begun     # request heads begun during the current feed_data
    cdef bint expect_continue
    cdef int error_status       # set by a callback before it raises, answered in data_received
    cdef str error_reason       # why, for the log and the response body
    cdef Py_ssize_t host_count  # Host fields in this head (RFC 9112 3.2: exactly one on 1.1)
    cdef bytes host
    cdef bytes upgrade          # the Upgrade field, when there is one
    cdef bint request_chunked
    cdef Py_ssize_t content_length  # the request's, -1 when it has none
    cdef Py_ssize_t body_remaining  # of a content-length body still to be parsed
    cdef bint upgrade_pending   # llhttp skipped this body as an upgrade: frame it ourselves
    cdef bint synthetic         # feeding the stand-in head that frames that body
    cdef Py_ssize_t framing_bytes   # chunk-size lines and extensions since the last data
    cdef H1Cycle parsing        # receives on_body
    cdef bint at_boundary       # the parser waits for a new message: data starts a request line
    cdef bint persistent        # the last head llhttp read asked for keep-alive (or none yet)
    cdef public bint fast_heads # plain heads skip llhttp (feed_simple); tests turn it off
    cdef readonly Py_ssize_t simple_heads  # heads feed_simple read (tests count them)
    cdef tuple simple_line      # (method, version) of the head feed_simple read, for the log
    cdef object scanned_method  # method and version read off the request line, or None
    cdef object scanned_version
    cdef dict scope_template    # what every scope of this connection shares, copied per request
    # responses go out in request order
    cdef H1Cycle cycle          # whose response is being written
    cdef object pipeline        # collections.deque of H1Cycle waiting their turn
    # a large body fed to the transport a piece at a time as it drains (never copied)
    cdef object held            # a memoryview of it, or None
    cdef Py_ssize_t held_pos    # how much of it the transport has
    cdef list queued            # writes made behind it, in order, or None
    cdef int after_held         # a close or lingering close waiting for it to be written
    # hand-overs to other cores (fastcorn.protocol.base): Upgrade and the HTTP/2 preface
    cdef object upgrades        # {lowercased Upgrade token: UpgradeHandler}, or None
    cdef object prior_knowledge # makes the HTTP/2 core for a cleartext preface, or None
    cdef bint sniffing          # no request byte read yet and prior_knowledge is set
    cdef bytes sniffed          # a first read too short to tell (a prefix of "PRI ")
    cdef object upgrade_handler # chosen for the request being read, until it is complete
    cdef H1Cycle upgrading      # that request, read but not started
    cdef bint upgrade_ready     # its head and body are read: hand over (or serve it)

    cdef new_parser(self)
    cdef object sniff(self, bytes data)
    cdef feed(self, bytes data, Py_ssize_t pos)
    cdef parse(self, bytes data, Py_ssize_t pos)
    cdef bint feed_slice(self, bytes data) except -1
    cdef Py_ssize_t feed_simple(self, bytes data, Py_ssize_t pos) except -2
    cdef parse_bug(self, BaseException exc)
    cdef begin_message(self)
    cdef take_url(self, bytes url)
    cdef take_header(self, bytes name, bytes value)
    cdef headers_complete(self, bint keep_alive)
    cdef take_body(self, bytes body)
    cdef message_complete(self)
    cdef frame_upgrade_body(self)
    cdef object choose_upgrade(self)
    cdef bint finish_upgrade(self, bytes data, Py_ssize_t pos) except -1
    cdef detach(self)
    cdef scan_request_line(self, bytes data)
    cdef check_host(self, str version, bytes url)
    cdef use_target_authority(self, object parsed)
    cdef reject(self, int status, str reason)
    cdef abort_transport(self)
    cdef linger(self)
    cdef resume_parsing(self)
    cdef await_next(self)
    cdef dict build_scope(self, H1Cycle cycle)
    cdef start_cycle(self, H1Cycle cycle)
    cdef launch(self)
    cdef response_done(self, H1Cycle cycle)
    cdef update_reading(self)
    cdef fail(self, int status)
    cdef write_error(self, int status, bint close)
    cdef log_rejected(self, int status)
    cdef str request_line(self)
    cdef arm_timer(self, TimerKind kind, double delay)
    cdef on_timeout(self, TimerKind kind)
    cdef close_transport(self)
    cdef write(self, object data)
    cdef write_large(self, bytes body)
    cdef feed_held(self)

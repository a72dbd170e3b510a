# The ASGI HTTP request/response cycle, written once and shared by every HTTP version.
#
# Call flow:
#   protocol (HTTP/1.1 in protocol/h1.pyx, HTTP/2 later)    runtime (asyncio/uvloop, trio)
#     parses a request head, builds the scope (asgi/scope)
#     cycle = HTTPCycle(state, stream, scope)
#     runtime.spawn(cycle.run()) ─────────────────────────▶  runs it as a task
#     cycle.feed_body(chunk) / cycle.end_body()                 app: await receive() ◀── body buffered here
#     cycle.disconnect()  (client went away)                    app: await send(msg) ──▶ stream.send_*()
#     stream.writing_paused / cycle.wake_writer()               send() waits while the stream is paused
#     stream.cycle_done(cycle) ◀── run() finishes (always, also on app errors)
#
# A Stream is the one thing the cycle writes to: an HTTP/1.1 connection (one cycle at a
# time) or an HTTP/2 stream. It is a cdef class so that HTTP/1.1 pays a C call, while a
# Python subclass (the h2 stream) can still override the cpdef methods. Nothing here knows
# a wire format: each stream frames its responses, its error responses and the server's
# default headers its own way.
#
# The runtime is the one interface every backend implements (fastcorn.asgi.types.Runtime):
# spawn(coroutine) -> task, cancel(task), create_waiter(), call_soon(fn), cancelled_error.

cdef class RequestObserver:
    # Told of every finished request with a C call (fastcorn.asgi.metrics.RequestMetrics).
    # When ServerState.observer is set, it replaces log_request/log_access: it calls the
    # access log itself when that is on as well.
    cpdef observe(self, HTTPCycle cycle)


cdef class ServerState:
    # Everything a connection needs from the server, shared by all of its connections.
    cdef public object app                 # ASGI 3 callable
    cdef public object runtime             # fastcorn.asgi.types.Runtime: spawn, cancel,
                                           # create_waiter, call_soon, cancelled_error
    cdef object call_soon                  # runtime.call_soon, cached
    # Responses started whose app has not given a first body yet; one scheduled
    # flush_heads() per loop turn serves all of them (see HTTPCycle.send).
    cdef list pending_heads
    cdef object flush_heads_callback
    # A coarse clock (runtime time), set by the server's once-a-second tick. Connection
    # deadlines are read against it, so arming a timeout is a store, not a loop call.
    cdef public double now
    cdef public str root_path
    cdef public dict asgi                  # scope["asgi"], copied into every scope
    cdef public dict lifespan_state        # copied shallowly into every scope["state"]
    cdef public list default_headers       # [(b"date", ...), (b"server", b"fastcorn")], a new
                                           # list each second; each protocol encodes it its way
    cdef public bint access_log
    cdef public object log_access          # fastcorn.logging.log_access when access_log is on
    # When set (--access-log-format, metrics), called instead of log_access with the
    # finished HTTPCycle itself, whose scope, status, response_headers, response_bytes,
    # request_bytes, start_time and target it reads.
    cdef public object log_request
    cdef public RequestObserver observer   # metrics, or None
    cdef public object error_logger        # logging.Logger for app errors
    cdef public double timeout_keep_alive
    cdef public double timeout_request_head
    cdef public double timeout_request_body  # longest pause between reads of a request body
    cdef public double timeout_write         # longest a paused transport may make no progress
    cdef public object log_rejected          # fastcorn.logging.log_rejected, or None
    cdef public object log_connection        # fastcorn.logging.log_connection at debug level, else None
    # What an app's exception may carry past the cycle: the runtime's own cancellation
    # (and GeneratorExit, a coroutine being closed). Anything else is an app error.
    cdef tuple propagate
    cdef public Py_ssize_t limit_request_head
    cdef public Py_ssize_t limit_concurrency  # 0 = unlimited
    cdef public Py_ssize_t active_requests
    cdef public Py_ssize_t running_apps      # app calls not yet returned (graceful shutdown waits)
    cdef public Py_ssize_t total_requests    # app calls started (--limit-max-requests, metrics)
    cdef public set connections            # live connection cores, for graceful shutdown
    cdef public bint shutting_down
    # Graceful shutdown waits on this (set by the server) instead of polling: woken once
    # no connection, request or app call is left.
    cdef public object drain_waiter
    # fastcorn.asgi.proxy.ProxyPolicy (proxy headers, PROXY protocol, trusted peers), or
    # None: no connection is trusted to speak for its client.
    cdef public object proxy

    cpdef connection_closed(self, object core)
    cdef void wake_if_drained(self)


cdef class Stream:
    # Set by the protocol while its transport asks it to stop writing.
    cdef public bint writing_paused
    cdef public bint closed

    cpdef send_head(self, HTTPCycle cycle, int status, list headers, bytes body, bint more_body)
    cpdef send_body(self, HTTPCycle cycle, bytes body, bint more_body)
    # A complete response the server makes itself (the 500 for a failed app), framed as
    # the protocol must: HTTP/1.1 closes the connection after it; HTTP/2 cannot say
    # "connection: close" and keeps its other streams.
    cpdef send_error(self, HTTPCycle cycle, int status, bytes body)
    # Room for what only some protocols carry; the base class refuses them
    # (NotImplementedError) and each stream overrides what it implements.
    cpdef send_informational(self, HTTPCycle cycle, int status, list headers)  # 1xx: 103
    cpdef send_trailers(self, HTTPCycle cycle, list headers)  # after the last body
    cpdef push(self, HTTPCycle cycle, str path, list headers)  # HTTP/2 server push
    # Body bytes straight from a file descriptor (pathsend, zerocopysend; asgi/files.pyx):
    # an awaitable that sends them without copying them through Python, or None when this
    # stream has no such path (TLS, HTTP/2 frames, chunked coding), and the cycle reads the
    # file and sends it through send_body instead. The base class returns None.
    cpdef object send_file(self, HTTPCycle cycle, int fd, Py_ssize_t offset,
                           Py_ssize_t count, bint more_body)
    # The app is waiting for body it does not have: answer 100-continue, resume reading.
    cpdef want_body(self, HTTPCycle cycle)
    cpdef cycle_done(self, HTTPCycle cycle)


cdef class HTTPCycle:
    cdef public dict scope
    cdef ServerState state
    cdef public Stream stream
    # request body
    cdef list body_chunks              # bytes not yet received by the app; None when none
    cdef public Py_ssize_t body_buffered
    cdef public bint body_complete
    cdef bint request_delivered        # the last http.request (more_body=False) was returned
    cdef bint input_ended              # the client half-closed after the whole request
    cdef object body_waiter
    # response
    cdef public int status             # 0 until http.response.start
    cdef list pending_headers          # held until the first body (one coalesced write)
    cdef public bint response_started  # head handed to the stream
    cdef public bint response_complete
    # Set by the stream while it runs the app's first step inside runtime.spawn_eager: a
    # head started then is not queued for flush_heads (no call_soon per loop turn for an
    # app that answers at once); the stream calls first_step_done() after the step.
    cdef bint in_first_step
    # http.response.start said trailers=True on a stream that offers them: the last body
    # does not end the response, http.response.trailers (more_trailers=False) does.
    cdef public bint trailers
    cdef bint body_ended               # the last body was sent, trailers are still due
    cdef list trailer_headers          # gathered while more_trailers=True
    cdef public Py_ssize_t response_bytes
    cdef public Py_ssize_t request_bytes  # request body bytes received
    cdef public object response_headers   # as the app gave them in http.response.start
    cdef public bint disconnected
    cdef object write_waiter
    cdef public object task            # what runtime.spawn returned, for cancelling at shutdown
    cdef public double start_time
    cdef public bytes target           # the request-target as sent, for the access log
    cdef bint logged                   # the access line was written
    cdef bint counted                  # holds one of state.active_requests

    # Fills a cycle made with HTTPCycle.__new__ (no Python-level __init__ on the hot path).
    cdef init(self, ServerState state, Stream stream, dict scope)
    # run(): the coroutine the stream spawns, made without a method lookup
    cdef object coroutine(self)
    # receive(): returns a Receiving, which takes message_now() when awaited, or waits
    cdef object message_now(self)
    cpdef feed_body(self, bytes chunk)
    cdef drop_body(self)
    cpdef end_body(self)
    cpdef disconnect(self)
    cpdef end_input(self)
    cpdef wake_writer(self)
    cdef object _wake(self, object waiter)
    cdef _app_failed(self, str message, object exc)
    cdef _log_access(self)
    cdef _hold_head(self)
    cdef first_step_done(self)
    cdef _flush_head(self)
    # http.response.trailers, .early_hint (103) and .push, handed to the stream
    cdef object _send_extension(self, object message_type, dict message)
    cdef inline void _release(self)

# cython: freethreading_compatible = False
"""The ASGI HTTP request/response cycle (ASGI 3.0, HTTP spec 2.4), compiled.

One HTTPCycle serves one request on one Stream. HTTP/1.1 (``protocol/h1.pyx``) and HTTP/2
use the same class: everything ASGI-specific (receive/send semantics, the response state
machine, disconnects, 500 on app errors, the access log) lives here and only here.

Waiting is delegated to the runtime through ``state.runtime.create_waiter()``, which
returns an asyncio-Future-like object (``done()``, ``set_result(None)``, awaitable); so
this module imports neither asyncio nor trio.
"""

cimport cython
from cpython.exc cimport PyErr_SetObject
from cpython.ref cimport Py_DECREF, PyObject
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

cdef extern from "Python.h":
    object PyMethod_New(object func, object self)  # Python 3's two arguments
    # tp_iternext as C sees it: NULL when an exception is set (StopIteration: the end),
    # which its caller handles itself.
    ctypedef PyObject* (*iternextfunc)(PyObject*) noexcept
    ctypedef struct TypeSlots "PyTypeObject":  # the one slot of PyTypeObject used here
        iternextfunc tp_iternext
    TypeSlots* Py_TYPE(PyObject* obj)

from collections.abc import Coroutine as _Coroutine


cdef inline double perf_counter() noexcept nogil:
    # time.perf_counter()'s clock on Linux (CLOCK_MONOTONIC), read without a Python call:
    # request timing (access log, metrics) costs two of these per request.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


class ClientDisconnected(OSError):
    """Raised by ``send()`` once the client has gone away (ASGI HTTP spec 2.4)."""


cdef object ClientDisconnectedError = ClientDisconnected

# Interned message keys and values, built once (house rule 3).
cdef str K_TYPE = "type"
cdef str K_BODY = "body"
cdef str K_MORE_BODY = "more_body"
cdef str K_STATUS = "status"
cdef str K_HEADERS = "headers"
cdef str T_REQUEST = "http.request"
cdef str T_DISCONNECT = "http.disconnect"
cdef str T_START = "http.response.start"
cdef str T_BODY = "http.response.body"
# What only some streams carry (ASGI extensions, advertised in scope["extensions"]).
cdef str T_TRAILERS = "http.response.trailers"
cdef str T_PUSH = "http.response.push"
cdef str T_EARLY_HINT = "http.response.early_hint"
cdef str T_PATHSEND = "http.response.pathsend"
cdef str T_ZEROCOPYSEND = "http.response.zerocopysend"
cdef str X_TRAILERS = "http.response.trailers"
cdef str K_TRAILERS = "trailers"
cdef str K_MORE_TRAILERS = "more_trailers"
cdef bytes EMPTY = b""
# What receive() copies for an http.request (a copy of a small dict costs about half of a
# new one filled key by key), then gives its body: the keys in the same order.
cdef dict REQUEST_LAST = {K_TYPE: T_REQUEST, K_BODY: EMPTY, K_MORE_BODY: False}
cdef dict REQUEST_MORE = {K_TYPE: T_REQUEST, K_BODY: EMPTY, K_MORE_BODY: True}

cdef tuple NOTHING = ()
# What Done.__await__ returns: an iterator that is over, shared (it has no state left), so
# that awaiting DONE allocates nothing.
cdef object EXHAUSTED = iter(NOTHING)

cdef enum:
    # What one buffered body chunk costs beyond its payload (the bytes object and its list
    # slot): counted so that 2-byte chunks cannot hold 30x their size under the high-water
    # mark, which is a count of memory held, not of payload.
    CHUNK_OVERHEAD = 64


cdef object send_file_message = None


cdef object file_sender():
    # fastcorn.asgi.files cimports this module, so it is imported on its first use rather
    # than while this one initialises.
    global send_file_message
    if send_file_message is None:
        from fastcorn.asgi.files import send_file_message
    return send_file_message


cdef BaseException thrown(object typ, object val, object tb):
    """What throw(typ, val, tb) raises from a coroutine not yet started: the exception,
    made from whichever of the three forms it was given in."""
    if val is None:
        val = typ() if isinstance(typ, type) else typ
    elif not isinstance(val, BaseException):
        val = typ(val)
    if tb is not None:
        val = val.with_traceback(tb)
    return val


cdef class Done:
    """What send() returns when it did not have to wait: awaiting it finishes at once.

    Cheaper than a coroutine per call; send() only builds one when it must wait for the
    transport to drain. To a task it is a coroutine that returns None at once
    (send/throw/close, a registered collections.abc.Coroutine): anyio's
    ``start_soon(send, message)`` and ``asyncio.create_task(send(message))`` refused
    it with a TypeError, after the message had gone out.
    """

    def __await__(self):
        return EXHAUSTED

    def __iter__(self):
        return EXHAUSTED

    def __next__(self):
        raise StopIteration

    def send(self, value):
        raise StopIteration

    def throw(self, typ, val=None, tb=None):
        # As a coroutine not yet started: the exception comes straight back out.
        raise thrown(typ, val, tb)

    def close(self):
        pass


cdef Done DONE = Done()


@cython.final
@cython.freelist(8)
cdef class Receiving:
    """What receive() returns: a coroutine's behaviour at a fraction of its cost.

    Like ``async def receive()``, it does nothing until awaited (or sent to): the message
    is taken then, so a receive() never awaited, or a task cancelled before its first
    step, loses no message. When the message is there, the await ends at once; else
    it hands over to a coroutine that waits (``_wait_for_message``). A coroutine per call
    cost ~900 instructions more on a request with a body (its frame, closure, await
    wrapper and generator machinery; callgrind, Python 3.13). It is registered as a
    collections.abc.Coroutine, so asyncio.create_task, ensure_future and trio take it.
    """

    cdef HTTPCycle cycle
    cdef object waiting     # _wait_for_message's await iterator, once there was no message
    cdef bint done          # awaited to its end, closed, or thrown into

    def __await__(self):
        return self

    def __iter__(self):
        return self  # (Python 3.11's asyncio drives an awaitable with yield from)

    def __next__(self):
        # Python's view; the type's C slot is receiving_next (below), which returns the
        # message as its StopIteration without a traceback entry.
        return step_object(self)

    def send(self, value):
        if value is None:
            return step_object(self)
        if self.waiting is None:
            if self.done:
                raise RuntimeError("cannot reuse already awaited receive()")
            raise TypeError("can't send non-None value to a just-started receive()")
        try:
            return self.waiting.send(value)  # trio resumes a task with a value
        except BaseException:
            self.done = True
            self.waiting = None
            raise

    def throw(self, typ, val=None, tb=None):
        cdef object waiting = self.waiting
        if waiting is None:
            # As a coroutine not yet started (or finished): the exception comes out.
            self.done = True
            raise thrown(typ, val, tb)
        try:
            if tb is not None:
                return waiting.throw(typ, val, tb)
            if val is not None:
                return waiting.throw(typ, val)
            return waiting.throw(typ)
        except BaseException:
            self.done = True
            self.waiting = None
            raise

    def close(self):
        self.done = True
        if self.waiting is not None:
            waiting = self.waiting
            self.waiting = None
            waiting.close()


cdef object step_object(Receiving receiving):
    """receiving_next for a caller that takes an object (a reference of its own)."""
    value = <object>receiving_next(<PyObject*>receiving)
    Py_DECREF(value)  # receiving_next's reference: value holds the one <object> took
    return value


cdef PyObject* receiving_next(PyObject* obj) except NULL:
    """One step of an await of receive() (the type's tp_iternext): the value to yield up
    while waiting (a new reference), or NULL with StopIteration(message) set: the await's
    result, raised without Cython's traceback entry."""
    cdef Receiving self = <Receiving>obj
    cdef object message
    cdef object waiting = self.waiting
    cdef PyObject* step
    if waiting is None:
        if self.done:
            raise RuntimeError("cannot reuse already awaited receive()")
        message = self.cycle.message_now()
        if message is not None:
            self.done = True
            PyErr_SetObject(StopIteration, message)
            return NULL
        self.waiting = waiting = _wait_for_message(self.cycle).__await__()
    step = Py_TYPE(<PyObject*>waiting).tp_iternext(<PyObject*>waiting)
    if step is NULL:  # the message (StopIteration), or an error such as a cancellation
        self.done = True
        self.waiting = None
    return step


(<TypeSlots*>Receiving).tp_iternext = <iternextfunc>receiving_next
_Coroutine.register(Receiving)
_Coroutine.register(Done)


async def _wait_for_message(HTTPCycle cycle):
    """receive() when its message is not there yet: wait to be woken, then look again."""
    while True:
        cycle.body_waiter = waiter = cycle.state.runtime.create_waiter()
        try:
            await waiter
        finally:
            cycle.body_waiter = None
        message = cycle.message_now()
        if message is not None:
            return message


cdef list ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
cdef bytes ERROR_BODY = b"Internal Server Error"


cdef class RequestObserver:
    """What ServerState.observer holds: told of each finished request (see cycle.pxd)."""

    cpdef observe(self, HTTPCycle cycle):
        pass


cdef class ServerState:
    def __init__(self, app, runtime, *, str root_path="", bint access_log=False,
                 log_access=None, error_logger=None, double timeout_keep_alive=65.0,
                 double timeout_request_head=10.0, Py_ssize_t limit_request_head=65536,
                 limit_concurrency=None, dict lifespan_state=None,
                 list default_headers=None, str asgi_version="3.0",
                 double timeout_request_body=60.0, double timeout_write=60.0,
                 log_rejected=None, log_connection=None):
        self.app = app
        self.runtime = runtime
        self.call_soon = runtime.call_soon
        self.pending_heads = []
        self.flush_heads_callback = self.flush_heads
        self.root_path = root_path
        self.asgi = {"version": asgi_version, "spec_version": "2.4"}
        self.access_log = access_log
        self.log_access = log_access
        self.error_logger = error_logger
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_request_head = timeout_request_head
        self.timeout_request_body = timeout_request_body
        self.timeout_write = timeout_write
        self.log_rejected = log_rejected
        self.log_connection = log_connection
        cancelled = getattr(runtime, "cancelled_error", None)
        self.propagate = (GeneratorExit,) if cancelled is None else (GeneratorExit, cancelled)
        self.limit_request_head = limit_request_head
        self.limit_concurrency = limit_concurrency or 0
        self.lifespan_state = lifespan_state if lifespan_state is not None else {}
        self.default_headers = default_headers if default_headers is not None else []
        self.active_requests = 0
        self.running_apps = 0
        self.connections = set()
        self.shutting_down = False
        self.now = 0.0

    def flush_heads(self):
        """Send every head still waiting for its first body: its app yielded without one."""
        cdef list heads = self.pending_heads
        self.pending_heads = []
        for cycle in heads:
            (<HTTPCycle>cycle)._flush_head()

    def check_timeouts(self, double now):
        """The server's once-a-second sweep: advance the clock, expire idle or slow peers."""
        self.now = now
        for conn in list(self.connections):
            conn.check_timeout(now)

    cpdef connection_closed(self, object core):
        """A connection core is done with its connection (closed, or handed over)."""
        self.connections.discard(core)
        if self.drain_waiter is not None:
            self.wake_if_drained()

    cdef void wake_if_drained(self):
        # Graceful shutdown: nothing left to wait for once no connection, request or app
        # call remains. Only ever called while draining (drain_waiter set), so the hot
        # path pays one `is not None`.
        if self.connections or self.active_requests or self.running_apps:
            return
        waiter = self.drain_waiter
        self.drain_waiter = None
        if not waiter.done():
            waiter.set_result(None)


cdef class Stream:
    """What a cycle writes to. Subclasses: the HTTP/1.1 connection, the HTTP/2 stream."""

    cpdef send_head(self, HTTPCycle cycle, int status, list headers, bytes body, bint more_body):
        raise NotImplementedError

    cpdef send_body(self, HTTPCycle cycle, bytes body, bint more_body):
        raise NotImplementedError

    cpdef send_error(self, HTTPCycle cycle, int status, bytes body):
        self.send_head(cycle, status, ERROR_HEADERS, body, False)

    cpdef send_informational(self, HTTPCycle cycle, int status, list headers):
        raise NotImplementedError(f"{type(self).__name__} sends no informational responses")

    cpdef send_trailers(self, HTTPCycle cycle, list headers):
        raise NotImplementedError(f"{type(self).__name__} sends no trailers")

    cpdef push(self, HTTPCycle cycle, str path, list headers):
        raise NotImplementedError(f"{type(self).__name__} has no server push")

    cpdef object send_file(self, HTTPCycle cycle, int fd, Py_ssize_t offset,
                           Py_ssize_t count, bint more_body):
        return None  # no zero-copy path: the cycle reads the file (asgi/files.pyx)

    cpdef want_body(self, HTTPCycle cycle):
        pass

    cpdef cycle_done(self, HTTPCycle cycle):
        pass


cdef inline bint state_logs(ServerState state):
    return state.access_log and state.log_access is not None


cdef inline bytes as_bytes(object data):
    if type(data) is bytes:
        return <bytes>data
    return bytes(data)


cdef class HTTPCycle:
    def __init__(self, ServerState state, Stream stream, dict scope):
        self.init(state, stream, scope)

    cdef init(self, ServerState state, Stream stream, dict scope):
        self.state = state
        self.stream = stream
        self.scope = scope
        # Numbers and flags start at 0/False and objects at None, as tp_new leaves them.
        if state.access_log:
            self.start_time = perf_counter()

    cdef object coroutine(self):
        return RUN(self)

    # -- fed by the protocol ------------------------------------------------------------

    cpdef feed_body(self, bytes chunk):
        self.request_bytes += len(chunk)
        if self.body_chunks is None:
            self.body_chunks = [chunk]  # made on the first chunk: most requests have none
        else:
            self.body_chunks.append(chunk)
        self.body_buffered += len(chunk) + CHUNK_OVERHEAD
        if self.body_waiter is not None:
            self._wake(self.body_waiter)

    cpdef end_body(self):
        self.body_complete = True
        if self.body_waiter is not None:
            self._wake(self.body_waiter)

    cdef drop_body(self):
        """The response is complete: what the app never read is dropped, not kept."""
        self.body_chunks = None
        self.body_buffered = 0

    cpdef disconnect(self):
        """The client went away: wake anything waiting; send() raises from now on."""
        self.disconnected = True
        if self.body_waiter is not None:
            self._wake(self.body_waiter)
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    cpdef end_input(self):
        """The client half-closed after its whole request: it will send nothing more.

        A FIN cannot tell ``shutdown(SHUT_WR)`` from ``close()``, so a receive() waiting
        after the body learns of it as http.disconnect (an app listening for a client
        that went away stops), while send() still delivers: a client that only
        half-closed gets its answer.
        """
        self.input_ended = True
        if self.body_waiter is not None:
            self._wake(self.body_waiter)

    cpdef wake_writer(self):
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    cdef object _wake(self, object waiter):
        if not waiter.done():
            waiter.set_result(None)

    # -- the ASGI callables -----------------------------------------------------------

    def receive(self):
        """ASGI receive: an awaitable that takes the message when awaited (Receiving)."""
        cdef Receiving receiving = Receiving.__new__(Receiving)
        receiving.cycle = self
        return receiving

    cdef object message_now(self):
        """The next message for receive(), or None when there is none yet."""
        cdef bytes body
        cdef list chunks
        cdef dict message
        while True:
            if self.disconnected:
                return {K_TYPE: T_DISCONNECT}
            if not self.request_delivered:
                if self.body_buffered or self.body_complete:
                    chunks = self.body_chunks
                    if chunks is None:
                        body = EMPTY
                    elif len(chunks) == 1:
                        body = <bytes>chunks[0]
                    else:
                        body = EMPTY.join(chunks)
                    self.body_chunks = None
                    self.body_buffered = 0
                    if self.body_complete:
                        self.request_delivered = True
                        message = REQUEST_LAST.copy()
                        message[K_BODY] = body
                        return message
                    # The buffer drained: let the protocol read more. It may hand over held
                    # input, even the end of the body, at once: that is the next message.
                    self.stream.want_body(self)
                    message = REQUEST_MORE.copy()
                    message[K_BODY] = body
                    return message
                self.stream.want_body(self)
                if self.body_buffered or self.body_complete:
                    continue  # the stream had body held back and handed it over just now
            elif self.response_complete or self.input_ended:
                # Nothing more will ever arrive for this request.
                return {K_TYPE: T_DISCONNECT}
            return None

    def send(self, dict message):
        """ASGI send. Returns an awaitable; errors are raised by the call itself."""
        cdef object message_type = message[K_TYPE]
        cdef bytes body
        cdef bint more_body
        cdef ServerState state
        if self.disconnected:
            raise ClientDisconnectedError("client disconnected")
        if message_type == T_START:
            if self.status != 0:
                raise RuntimeError("http.response.start sent twice")
            status = message[K_STATUS]
            if type(status) is not int:
                if not isinstance(status, int) or isinstance(status, bool):
                    raise TypeError(f"http.response.start status must be an int, got {status!r}")
                status = int(status)  # an IntEnum such as http.HTTPStatus
            if status < 200 or status > 599:
                # 1xx is never a final response (no upgrade is served over http.response.start)
                raise RuntimeError(f"invalid response status {status}: must be 200-599")
            headers = message.get(K_HEADERS, ())
            self.pending_headers = headers if type(headers) is list else list(headers)
            self.response_headers = self.pending_headers
            self.status = status
            if message.get(K_TRAILERS) and X_TRAILERS in self.scope["extensions"]:
                self.trailers = True
            # The head waits for the first body so that both leave in one write, but only
            # until the app yields: an app that starts a stream and then waits (SSE, long
            # poll) must not keep its client, or a proxy's header timeout, waiting too.
            # One callback per loop turn checks every head started in that turn; in an
            # eager first step, the stream asks first_step_done() once the step is over.
            if not self.in_first_step:
                self._hold_head()
            return DONE
        if message_type == T_BODY:
            if self.status == 0:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.response_complete or self.body_ended:
                raise RuntimeError("http.response.body sent after the response completed")
            body = as_bytes(message.get(K_BODY, EMPTY))
            more_body = message.get(K_MORE_BODY, False)
            if not more_body and self.trailers:
                self.body_ended = True  # the response completes with its trailers
            elif not more_body:
                # Before the stream writes: completing may start the next pipelined request,
                # which must find this one no longer counted against --limit-concurrency.
                self.response_complete = True
                self._release()
            try:
                if self.response_started:
                    self.stream.send_body(self, body, more_body)
                else:
                    self.stream.send_head(self, self.status, self.pending_headers, body,
                                          more_body)
                    self.response_started = True
                    self.pending_headers = None
            except BaseException:
                # The stream refused it (a bad header, a body over its content-length): the
                # response is not complete, so an app that swallows this error and returns
                # still gets its 500 or its closed connection instead of a silent hang.
                self.response_complete = False
                raise
            self.response_bytes += len(body)
            if not more_body and not self.trailers:
                if state_logs(self.state):
                    self._log_access()
                if self.body_waiter is not None:
                    self._wake(self.body_waiter)  # a receive() waiting for disconnect returns
                # The last body is handed to the transport whole: waiting for it to drain
                # would leave the app's code after its last send() (background tasks,
                # cleanup) waiting on a stream that has moved on to the next request.
                return DONE
            if self.stream.writing_paused and not self.disconnected:
                return self._drain()
            return DONE
        return self._send_extension(message_type, message)

    cdef object _send_extension(self, object message_type, dict message):
        """The messages of ASGI extensions, each handed to the stream that offers it."""
        if message_type == T_TRAILERS:
            if not self.trailers or not self.body_ended or self.response_complete:
                raise RuntimeError("http.response.trailers sent without trailers=True in "
                                   "http.response.start, before the last body or twice")
            headers = message.get(K_HEADERS, ())
            if self.trailer_headers is None:
                self.trailer_headers = []
            self.trailer_headers.extend(headers)
            if message.get(K_MORE_TRAILERS, False):
                return DONE
            self.response_complete = True
            self._release()
            self.stream.send_trailers(self, self.trailer_headers)
            self.trailer_headers = None
            if state_logs(self.state):
                self._log_access()
            if self.body_waiter is not None:
                self._wake(self.body_waiter)
            return DONE
        if message_type == T_EARLY_HINT:
            # 103 Early Hints: only before the final response has begun.
            if self.status == 0:
                self.stream.send_informational(
                    self, 103, [(b"link", as_bytes(link)) for link in message["links"]])
            return DONE
        if message_type == T_PUSH:
            # A promise rides on the request's stream: only while its response is open.
            if not self.response_complete and not self.body_ended and not self.disconnected:
                self.stream.push(self, message["path"], list(message.get(K_HEADERS, ())))
            return DONE
        if message_type == T_PATHSEND or message_type == T_ZEROCOPYSEND:
            return file_sender()(self, message)
        raise RuntimeError(f"unexpected ASGI message type {message_type!r}")

    cdef _hold_head(self):
        """Queue the started head for the flush_heads() of this loop turn."""
        cdef ServerState state = self.state
        if not state.pending_heads:
            state.call_soon(state.flush_heads_callback)
        state.pending_heads.append(self)

    cdef first_step_done(self):
        """The app's eager first step is over (see in_first_step): a head it started
        without its first body is queued now, as send() would have queued it."""
        self.in_first_step = False
        if self.status != 0 and not self.response_started and not self.disconnected:
            self._hold_head()

    cdef _flush_head(self):
        if self.status != 0 and not self.response_started and not self.disconnected:
            try:
                self.stream.send_head(self, self.status, self.pending_headers, EMPTY, True)
            except Exception:
                # Headers the stream refuses (CR/LF in a value...). Nothing was written; the
                # app's next send() meets the same error in its own task, where it becomes a
                # 500, instead of here, in a loop callback shared with other responses.
                return
            self.response_started = True
            self.pending_headers = None

    async def _drain(self):
        """Wait until the stream accepts writes again (or the client is gone)."""
        while self.stream.writing_paused and not self.disconnected:
            self.write_waiter = waiter = self.state.runtime.create_waiter()
            try:
                await waiter
            finally:
                self.write_waiter = None

    # -- the task ---------------------------------------------------------------------

    async def run(self):
        cdef ServerState state = self.state
        state.active_requests += 1
        state.total_requests += 1
        state.running_apps += 1
        self.counted = True
        try:
            # The bound methods ``self.receive`` and ``self.send`` would give, made directly:
            # the attribute lookups cost ~360 instructions each (callgrind, Python 3.13).
            await state.app(self.scope, PyMethod_New(RECEIVE, self), PyMethod_New(SEND, self))
        except BaseException as exc:
            if isinstance(exc, ClientDisconnectedError) and self.disconnected:
                pass  # the app let our own disconnect signal escape: nothing to report
            elif isinstance(exc, state.propagate):
                # The runtime cancelling the task (shutdown): the stream closes an
                # unfinished response in cycle_done; the cancellation must propagate.
                raise
            else:
                # Any other exception, SystemExit and KeyboardInterrupt included, is the
                # app's failure: one request's error never stops the server.
                self._app_failed("Exception in ASGI application", exc)
        else:
            if not self.response_complete and not self.disconnected:
                self._app_failed("ASGI application returned without completing the response",
                                 None)
        finally:
            self._release()
            state.running_apps -= 1
            if state.drain_waiter is not None:
                state.wake_if_drained()
            if not self.logged:
                self._log_access()  # no complete response: logged as the app ends
            self.stream.cycle_done(self)

    cdef _log_access(self):
        # Once per request, when its response completes (not when the app returns: work
        # after the last send(), such as background tasks, is not the client's wait).
        cdef ServerState state = self.state
        self.logged = True
        if state_logs(state):
            if state.observer is not None:
                state.observer.observe(self)  # metrics, which chain to the access log
                return
            if state.log_request is not None:
                state.log_request(self)  # reads what it needs off the cycle
                return
            target = self.target
            state.log_access(
                self.scope.get("client"), self.scope["method"],
                target.decode("latin-1") if target is not None else self.scope["path"],
                self.scope["http_version"], self.status, self.response_bytes,
                perf_counter() - self.start_time,
            )

    cdef inline void _release(self):
        # A request is in flight from the app's start until its response is complete (or
        # the app returns): what --limit-concurrency counts and graceful shutdown waits for.
        if self.counted:
            self.counted = False
            self.state.active_requests -= 1
            if self.state.drain_waiter is not None:
                self.state.wake_if_drained()

    cdef _app_failed(self, str message, object exc):
        if self.state.error_logger is not None:
            if exc is None:
                self.state.error_logger.error(message)
            else:
                self.state.error_logger.error(message, exc_info=exc)
        if not self.response_started and not self.disconnected:
            # Nothing sent yet: answer 500, framed by the stream (HTTP/1.1 closes after it).
            # Otherwise the stream ends the response on cycle_done.
            self.status = 500
            self.response_started = True
            self.response_complete = True
            self.response_bytes = len(ERROR_BODY)
            self.stream.send_error(self, 500, ERROR_BODY)
            self._log_access()


# HTTPCycle's functions, looked up once: see coroutine() and run().
cdef object RUN = HTTPCycle.run
cdef object RECEIVE = HTTPCycle.receive
cdef object SEND = HTTPCycle.send

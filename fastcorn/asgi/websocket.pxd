# The ASGI WebSocket cycle (websocket.pyx), written once for every protocol carrying
# WebSocket. The protocol's core is its stream (the WebSocketStream interface, see the
# module docstring): it feeds the cycle and the cycle writes to it.
#
#   core (protocol/websocket.py)                 app task (runtime.spawn(cycle.run()))
#     feed_messages(list, size) / feed_message ─▶ queue ─▶ receive() -> websocket.receive
#     feed_marker(callback)  (error after them)    receive() calls it in queue order
#     disconnect(code, reason)                     receive() -> websocket.disconnect; send raises
#     input_paused (set by the core at its high-water mark) ─▶ stream.resume_input() at LOW_WATER
#     stream.writing_paused / wake_writer()        send() waits (_drain) while paused
#     stream.cycle_done(cycle) ◀── run() ends, always

from fastcorn.asgi.cycle cimport ServerState

cdef enum Phase:
    PHASE_CONNECTING = 0    # websocket.connect not answered yet
    PHASE_OPEN = 1          # accepted
    PHASE_RESPONDING = 2    # a denial response started, its body not finished
    PHASE_CLOSED = 3        # the app closed, or its response is complete


cdef class WebSocketCycle:
    cdef public ServerState state
    cdef public object stream           # the protocol's WebSocketStream
    cdef public dict scope
    cdef public int phase               # a Phase
    cdef bint connect_delivered
    cdef public object queue            # deque of messages and markers
    cdef public Py_ssize_t queued_bytes
    cdef public bint input_paused       # set by the core when it paused reading for the queue
    cdef public object disconnect_message  # the websocket.disconnect to give, once known
    cdef public int response_status     # of a denial response, or the server's 403/500
    cdef list response_headers
    cdef bint response_started
    cdef object receive_waiter
    cdef object write_waiter
    cdef public object task             # what runtime.spawn returned (cancelled at shutdown)
    cdef tuple propagate                # the runtime's cancellation: let through

    cdef _wake(self, object waiter)
    cdef _out_of_order(self, kind)
    cdef _app_failed(self, str message, object exc)

# A Transport over one HTTP/2 stream: what a core running on an extended CONNECT stream
# (RFC 8441: WebSocket over HTTP/2) sees instead of a TCP connection.
#
#   H2Connection (h2.pyx)                  StreamTransport                 core (websocket.py)
#   extended CONNECT, :protocol websocket ─▶ StreamTransport(conn, id) ─▶ connection_made(self)
#   DataReceived                          ─▶ received(data, flow)   ─▶ data_received(data);
#                                            the window goes back once the core has the bytes;
#                                            held (not acknowledged) while reading is paused
#   StreamEnded (the client's END_STREAM) ─▶ remote_end()           ─▶ eof_received() (TCP FIN)
#   StreamReset, connection lost          ─▶ remote_reset() / gone() ─▶ connection_lost()
#   WindowUpdated, transport resumed      ─▶ window_opened()        ─▶ resume_writing() once drained
#   transport paused                      ─▶ transport_paused()     ─▶ pause_writing()
#                                            core: write(bytes)     ─▶ DATA frames up to the windows
#                                            core: send_head(...)   ─▶ HEADERS (:status 200, a denial)
#                                            core: close()          ─▶ END_STREAM after what is queued
#                                            core: abort()          ─▶ RST_STREAM(CANCEL)
#   tunnel_done(self) ◀── the stream is over for the core (connection_lost delivered)

from fastcorn.protocol.h2 cimport H2Connection


cdef class StreamTransport:
    cdef H2Connection conn
    cdef readonly int stream_id
    cdef object engine_stream      # h2's stream object: DATA written on h2's state directly
    cdef public object protocol    # the core on this stream
    # output
    cdef bytes out                 # queued for window, from out_pos
    cdef Py_ssize_t out_pos
    cdef bint head_sent
    cdef bint end_pending          # close() or write_eof(): END_STREAM once `out` is sent
    cdef bint local_ended          # END_STREAM handed to h2
    cdef bint closing              # close(): the core is told connection_lost once ended
    cdef bint writing_paused       # the core was told pause_writing()
    # input
    cdef bint reading_paused
    cdef bint delivery_scheduled   # held bytes go to the core on the next loop turn
    cdef bytearray held            # DATA received while reading was paused, not acknowledged
    cdef Py_ssize_t held_flow      # its flow-controlled size (padding included)
    cdef bint remote_ended         # the client's END_STREAM arrived
    cdef bint eof_owed             # ... and is told to the core after the held bytes
    # the end
    cdef bint reset                # RST_STREAM either way
    cdef bint lost                 # connection_lost delivered (or due): nothing more

    cdef Py_ssize_t pending(self)
    cdef push(self)
    cdef update_writing(self)
    cdef ended(self)
    cdef finish(self)

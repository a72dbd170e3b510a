# The WebSocket data-frame lane (wsframe.pyx): plain data frames in C, the rest to wsproto.
#
# Call flow, from the WebSocket core (protocol/websocket.py), only while no extension is
# negotiated, the connection is open, and wsproto is between frames and messages:
#   data_received(data)
#     read_frames(held + data, limit) -> (messages, payload bytes, consumed, status)
#       messages           ─▶ cycle.feed_messages   (websocket.receive dicts, built here)
#       status LANE_PARTIAL ─▶ the core holds data[consumed:] for the next read
#       status LANE_OTHER   ─▶ wsproto.receive_data(data[consumed:])  (control frames,
#                              fragments, RSV bits, long or non-minimal lengths, errors)
#       status LANE_BAD_UTF8 ─▶ close 1007 (after the messages before it)
#   app send(websocket.send) ─▶ write_frame(data) ─▶ transport.write
#   with permessage-deflate: read_raw_frames (the core inflates with its codec) and
#   write_raw_frame(0xC1/0xC2, compressed payload)
#
# The statuses are Python ints too (END, PARTIAL, OTHER, BAD_UTF8), for the core.

cdef enum LaneStatus:
    LANE_END = 0
    LANE_PARTIAL = 1
    LANE_OTHER = 2
    LANE_BAD_UTF8 = 3

cdef void unmask(char* out, const char* data, Py_ssize_t n, const unsigned char* key)
# A server frame: the first byte (FIN, RSV, opcode), the shortest length, the payload.
cdef bytes frame_bytes(unsigned char first, bytes payload)

"""What both ceiling servers share: the canned response and head counting.

A ceiling server parses nothing. It counts request heads by their blank line
(``\\r\\n\\r\\n``), skips a fixed number of body bytes after each head (the
scenario's request body size, given on the command line), and answers every
head with the same canned response. That is the most any server written on the
same event loop could do, so every real server is reported as a ratio to it.
"""

from __future__ import annotations

import argparse

HEAD_END = b"\r\n\r\n"


def canned_response(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    return head + body


class HeadCounter:
    """Counts complete requests in a byte stream without parsing them."""

    __slots__ = ("body_size", "tail", "skip")

    def __init__(self, body_size: int) -> None:
        self.body_size = body_size
        self.tail = b""  # an unfinished head kept across reads
        self.skip = 0  # body bytes still to be skipped

    def feed(self, data: bytes) -> int:
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return 0
            data = data[self.skip :]
            self.skip = 0
        if self.tail:
            data = self.tail + data
            self.tail = b""
        if not self.body_size:
            count = data.count(HEAD_END)
            end = data.rfind(HEAD_END)
            rest = data[end + 4 :] if end >= 0 else data
            self.tail = rest[-3:]
            return count
        count = 0
        pos = 0
        while True:
            end = data.find(HEAD_END, pos)
            if end < 0:
                self.tail = data[pos:]
                return count
            count += 1
            pos = end + 4 + self.body_size
            if pos > len(data):
                self.skip = pos - len(data)
                return count


def parse_args(description: str, loops: tuple[str, ...] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    if loops:
        parser.add_argument("--loop", choices=loops, default=loops[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", default="Hello, world!", help="the canned response body")
    parser.add_argument("--body-size", type=int, default=0, help="canned body of N 'x' bytes")
    parser.add_argument(
        "--request-body", type=int, default=0, help="body bytes that follow each request head"
    )
    return parser.parse_args()


def response_from_args(args: argparse.Namespace) -> bytes:
    body = b"x" * args.body_size if args.body_size else args.body.encode()
    return canned_response(body)

"""hypercorn's configuration in the HTTP/2 scenarios (``-c python:bench.hypercorn_h2``).

hypercorn sends GOAWAY after ``keep_alive_max_requests`` (default 1000) requests on one
HTTP/2 connection. h2load does not open a new connection for it, so a 3-second run at
thousands of requests per second would lose its connections one by one and measure a
server with less and less load. fastcorn and granian have no such limit: lifted here so
that all three serve the same 16 connections for the whole run.
"""

keep_alive_max_requests = 2**31

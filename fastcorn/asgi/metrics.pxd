# Request metrics, counted as each request finishes.
#
#   HTTPCycle._log_access ─▶ state.observer.observe(cycle), a C call
#        requests[(method, "2xx", "1.1")] += 1, the duration histogram, bytes in and out,
#        then chain(cycle): the access log, when it is on as well
#   h1 log_rejected hook  ─▶ rejected_request(status)       (fastcorn/metrics.py wraps it)
#   h1 log_connection     ─▶ connection_accepted()          ("connection open")
#   fastcorn/metrics.py   ─▶ histogram(), requests, ... for Prometheus and statsd

from fastcorn.asgi.cycle cimport HTTPCycle, RequestObserver

cdef enum:
    N_METHODS = 10   # GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH, OTHER last
    N_CLASSES = 6    # 0xx (none: a status out of range) to 5xx
    N_VERSIONS = 4   # 1.0 1.1 2 3


cdef class RequestMetrics(RequestObserver):
    # requests by method, status class and HTTP version (the `requests` property reads it)
    cdef long long counts[N_METHODS][N_CLASSES][N_VERSIONS]
    cdef readonly dict rejected            # status -> count
    cdef readonly dict websocket_messages  # "in"/"out" -> count
    cdef long long buckets[12]             # per bucket (not cumulative); the last is +Inf
    cdef readonly double duration_sum
    cdef readonly long long duration_count
    cdef readonly long long bytes_in       # request body bytes
    cdef readonly long long bytes_out      # response body bytes
    cdef readonly long long connections_accepted
    cdef public object chain               # called with the cycle after counting, or None
    cdef bint keep_samples                 # statsd: keep some durations per flush
    cdef list samples
    cdef long long sampled_total

    cpdef observe(self, HTTPCycle cycle)

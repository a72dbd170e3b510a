# cython: freethreading_compatible = False
"""The per-request side of the metrics: a recorder the HTTP cycle calls (see metrics.pxd).

``ServerState.observer`` is set to a :class:`RequestMetrics` when metrics are on; the
cycle calls it (a C call) once per finished request with itself. It counts in C where it can (the
duration histogram, byte totals) and in one dict keyed by (method, status class,
protocol) for the labelled counter. fastcorn/metrics.py reads it for the Prometheus
endpoint and statsd; what it cannot see per request (requests in flight, connections open)
is read off the ServerState there, at scrape time.
"""

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from fastcorn.asgi.cycle cimport HTTPCycle, RequestObserver


cdef inline double perf_counter() noexcept nogil:
    # The cycle's clock (CLOCK_MONOTONIC, time.perf_counter()'s on Linux), without a call.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9

# Upper bounds of the duration histogram, seconds (Prometheus' default buckets).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
cdef double C_BUCKETS[11]
for _i, _bound in enumerate(BUCKETS):
    C_BUCKETS[_i] = _bound

# Methods counted by name; any other token is "OTHER", so a client cannot grow the label set.
cdef tuple METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                      "PATCH", "OTHER")
cdef dict METHOD_INDEX = {name: i for i, name in enumerate(METHODS)}
cdef tuple STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
cdef tuple VERSIONS = ("1.0", "1.1", "2", "3")
cdef dict VERSION_INDEX = {name: i for i, name in enumerate(VERSIONS)}
cdef str K_METHOD = "method"
cdef str K_VERSION = "http_version"

cdef enum:
    SAMPLE_LIMIT = 256  # durations kept per statsd flush


cdef class RequestMetrics(RequestObserver):
    """Counts finished requests (the cycle's ``ServerState.observer``)."""

    def __init__(self, chain=None, bint keep_samples=False):
        self.rejected = {}
        self.websocket_messages = {"in": 0, "out": 0}
        self.chain = chain
        self.keep_samples = keep_samples
        self.samples = []

    cpdef observe(self, HTTPCycle cycle):
        cdef dict scope = cycle.scope
        cdef double duration = perf_counter() - cycle.start_time
        cdef int status = cycle.status
        cdef int i, m, v
        index = METHOD_INDEX.get(scope[K_METHOD])
        m = N_METHODS - 1 if index is None else <int>index
        index = VERSION_INDEX.get(scope[K_VERSION])
        v = 1 if index is None else <int>index
        self.counts[m][status // 100 if 0 <= status < 600 else 0][v] += 1
        if duration < 0:
            duration = 0
        for i in range(11):
            if duration <= C_BUCKETS[i]:
                self.buckets[i] += 1
                break
        else:
            self.buckets[11] += 1
        self.duration_sum += duration
        self.duration_count += 1
        self.bytes_in += cycle.request_bytes
        self.bytes_out += cycle.response_bytes
        if self.keep_samples:
            self.sampled_total += 1
            if len(self.samples) < SAMPLE_LIMIT:
                self.samples.append(duration)
        if self.chain is not None:
            self.chain(cycle)  # the access log, when it is on too

    def rejected_request(self, int status):
        """A request the server answered itself (400, 408, 431, 503...)."""
        self.rejected[status] = self.rejected.get(status, 0) + 1

    def connection_accepted(self):
        self.connections_accepted += 1

    def websocket_message(self, str direction):
        """One WebSocket message, ``direction`` "in" (from the client) or "out"."""
        self.websocket_messages[direction] = self.websocket_messages.get(direction, 0) + 1

    @property
    def requests(self):
        """{(method, status class, http_version): count} of the requests counted so far."""
        cdef dict found = {}
        cdef int m, c, v
        for m in range(N_METHODS):
            for c in range(N_CLASSES):
                for v in range(N_VERSIONS):
                    if self.counts[m][c][v]:
                        found[(METHODS[m], STATUS_CLASSES[c], VERSIONS[v])] = \
                            self.counts[m][c][v]
        return found

    def histogram(self):
        """(cumulative counts per bucket bound, +Inf last; sum; count)."""
        cdef list counts = []
        cdef long long total = 0
        cdef int i
        for i in range(12):
            total += self.buckets[i]
            counts.append(total)
        return counts, self.duration_sum, self.duration_count

    def take_samples(self):
        """The durations kept since the last call and how many requests they stand for."""
        samples, total = self.samples, self.sampled_total
        self.samples = []
        self.sampled_total = 0
        return samples, total

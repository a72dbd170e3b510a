"""What every backend's accept loop shares: how to react when ``accept()`` fails.

At the file-descriptor limit (EMFILE, ENFILE) or out of kernel memory (ENOBUFS, ENOMEM),
``accept()`` fails at once and the listener stays readable, so a loop that retries on the
next readiness event spins at full CPU, and one that logs every failure floods the log
(asyncio's own accept loop does both). The backends instead stop watching the listener,
retry after :meth:`AcceptBackoff.failed`'s delay (10 ms doubling to 1 s), and log one line
at most every ``REPORT_INTERVAL`` seconds. Pending clients wait in the listen backlog and
are served once descriptors free up.
"""

from __future__ import annotations

import errno
import logging
import resource
import time

logger = logging.getLogger("fastcorn.error")

# accept() failing with these: the connection is gone, take the next one at once.
RETRY_NOW = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN,
                       errno.ENOPROTOOPT, errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH,
                       errno.EOPNOTSUPP, errno.ENETUNREACH, errno.EINTR})
# The listener was closed under us (graceful shutdown): stop accepting.
CLOSED = frozenset({errno.EBADF, errno.EINVAL, errno.ENOTSOCK})

MIN_DELAY = 0.01
MAX_DELAY = 1.0
REPORT_INTERVAL = 60.0


class AcceptBackoff:
    """One per listener: the delay before the next ``accept()`` after a failure."""

    __slots__ = ("delay", "last_report", "failures")

    def __init__(self) -> None:
        self.delay = 0.0  # 0 while accepting works; the accept loops reset it on success
        self.last_report = -REPORT_INTERVAL
        self.failures = 0  # since the last report

    def failed(self, exc: OSError) -> float:
        """Count a failed accept(), log now and then; returns how long to wait."""
        self.delay = min(self.delay * 2, MAX_DELAY) if self.delay else MIN_DELAY
        self.failures += 1
        now = time.monotonic()
        if now - self.last_report >= REPORT_INTERVAL:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                hint = f" (open-file limit {soft}; raise it with ulimit -n)"
            else:
                hint = ""
            since = (f"; {self.failures} failures since the last report"
                     if self.failures > 1 else "")
            logger.warning("Cannot accept connections: %s%s. New connections wait in the "
                           "backlog; retrying at most %g s apart (logged once a minute)%s.",
                           exc.strerror or exc, hint, MAX_DELAY, since)
            self.last_report = now
            self.failures = 0
        return self.delay

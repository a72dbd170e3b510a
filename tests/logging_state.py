"""Save and restore every piece of logging state fastcorn touches, for in-process tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import fastcorn.logging as fl

NAMES = ("", "fastcorn", "fastcorn.error", "fastcorn.access")


@contextmanager
def saved_logging() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in NAMES]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers]
    module = (dict(fl._our_handlers), dict(fl._our_levels), fl._access_log_on,
              fl._applied_log_config)
    try:
        yield
    finally:
        for lg, handlers, level, propagate, disabled in saved:
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()  # a FileHandler's file; a StreamHandler keeps its stream
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
            lg.disabled = disabled
        fl._our_handlers.clear()
        fl._our_handlers.update(module[0])
        fl._our_levels.clear()
        fl._our_levels.update(module[1])
        fl._access_log_on = module[2]
        fl._applied_log_config = module[3]

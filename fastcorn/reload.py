"""``--reload``: watch the app's files with watchfiles and tell the supervisor.

The watcher runs in a thread of the supervisor (the workers never watch anything): it
collects the changed paths and wakes the supervisor's loop, which restarts the workers
the way SIGHUP does (the new worker serves before the old one stops), so that a file
saved with a syntax error leaves the old code serving and the error in the log.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from fnmatch import fnmatch
from typing import Any

logger = logging.getLogger("fastcorn.error")

DEFAULT_INCLUDE = ("*.py",)
# Hidden files, compiled Python, editor swap and backup files.
DEFAULT_EXCLUDE = (".*", "*.py[cod]", "*.sw?", "*~")


def watch_dirs(reload_dirs: Sequence[str], app_dir: str) -> list[str]:
    """The directories to watch: ``--reload-dir`` or else the current directory and the
    app's directory, absolute, without duplicates."""
    dirs = list(reload_dirs) or [os.getcwd(), app_dir]
    unique: list[str] = []
    for each in dirs:
        path = os.path.abspath(each)
        if path not in unique:
            unique.append(path)
    return unique


def check_reload(reload_dirs: Sequence[str]) -> str | None:
    """Why ``--reload`` cannot work here, in one line, or None."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return "--reload needs the 'reload' extra: pip install 'fastcorn[reload]'"
    for each in reload_dirs:
        if not os.path.isdir(each):
            return f"--reload-dir: {each} is not a directory"
    return None


class FileFilter:
    """Which changed paths count: a name matching an include glob (``*.py`` and
    ``--reload-include``) and neither the name nor the path an exclude glob; directories
    such as ``__pycache__``, ``.git`` and virtual environments are watchfiles' to skip."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        import watchfiles

        self.default = watchfiles.DefaultFilter()
        self.include = (*DEFAULT_INCLUDE, *include)
        self.exclude = (*DEFAULT_EXCLUDE, *exclude)

    def __call__(self, change: Any, path: str) -> bool:
        if not self.default(change, path):
            return False
        name = os.path.basename(path)
        if any(fnmatch(name, glob) or fnmatch(path, glob) for glob in self.exclude):
            return False
        return any(fnmatch(name, glob) for glob in self.include)


class Watcher:
    """A thread watching ``dirs``; ``wake()`` is called after each batch of changes, which
    :meth:`take` then returns."""

    def __init__(self, dirs: Sequence[str], include: Sequence[str], exclude: Sequence[str],
                 wake: Callable[[], None]) -> None:
        self.dirs = list(dirs)
        self.filter = FileFilter(include, exclude)
        self.wake = wake
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.changed: list[str] = []
        self.thread = threading.Thread(target=self._watch, name="fastcorn-reload",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(2.0)

    def take(self) -> list[str]:
        with self.lock:
            changed, self.changed = self.changed, []
        return changed

    def _watch(self) -> None:
        import watchfiles

        # step: a batch ends after 50 ms without a new change (an editor's save is several
        # events); debounce bounds a batch of continuous changes at 400 ms.
        for changes in watchfiles.watch(*self.dirs, watch_filter=self.filter, step=50,
                                        debounce=400, stop_event=self.stop_event,
                                        raise_interrupt=False):
            paths = sorted({path for _, path in changes})
            with self.lock:
                self.changed.extend(path for path in paths if path not in self.changed)
            self.wake()

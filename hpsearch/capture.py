"""The trial side of trial logs: stdout, stderr and Python logging, captured and sent.

While a trial runs, ``sys.stdout`` and ``sys.stderr`` write through to the
originals and into a buffer, and a handler on the root logger adds each log
record; a thread, started by the first output, sends what is new every ``every_s``
to the study's sink actor (hpsearch/sink.py), from which the driver writes it to SQL.
The sender drops what the store could not keep anyway (hpsearch/logtext.py): a trial
printing gigabytes sends at most the head and one tail's worth per send.

Output written to the file descriptors by C code (not through ``sys.stdout``) is
not captured. Standard library only (see hpsearch/trial.py).
"""
from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Callable

from hpsearch.logtext import split_cap

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Tee(io.TextIOBase):
    """A text stream that writes to ``original`` and into the capture."""

    def __init__(self, original, capture: "LogCapture"):
        self.original, self.capture = original, capture

    def write(self, s: str) -> int:
        try:
            self.original.write(s)
        except (ValueError, OSError):  # the original was closed: keep capturing
            pass
        self.capture.add(s)
        return len(s)

    def flush(self) -> None:
        try:
            self.original.flush()
        except (ValueError, OSError):
            pass

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self):
        return getattr(self.original, "encoding", "utf-8")


class _Handler(logging.Handler):
    def __init__(self, capture: "LogCapture"):
        super().__init__(logging.NOTSET)
        self.capture = capture
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.capture.add(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the trial
            self.handleError(record)


class LogCapture:
    """Captures this process's output for one trial; ``send(offset, text)`` ships it."""

    _active: "LogCapture | None" = None  # the one installed in this process

    def __init__(self, send: Callable[[int, str], object], cap: int, every_s: float = 0.5):
        self.send = send
        self.head_cap, self.tail_cap = split_cap(cap)
        self.every_s = every_s
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._ready: list[tuple[int, str]] = []  # head text, sent before anything else
        self._buf: list[str] = []
        self._buf_len = 0
        self._start = 0      # position of the buffer's first character
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: tuple | None = None
        self._last = None    # what the last send returned (a Ray ObjectRef)

    # -- capturing --------------------------------------------------------------------
    def add(self, s: str) -> None:
        if not s:
            return
        with self._lock:
            self._buf.append(s)
            self._buf_len += len(s)
            if self._buf_len > 2 * self.tail_cap + self.head_cap:
                self._compact()
            if self._thread is None and self._saved is not None:
                self._start_sender()

    def _start_sender(self) -> None:
        """The sender thread, started by the first output (under ``_lock``): a trial that
        prints nothing costs no thread, which short trials would pay at every start."""
        self._thread = threading.Thread(target=self._run, name="hpsearch-log", daemon=True)
        self._thread.start()

    def _compact(self) -> None:
        """Keep what is still to be sent of the head, and the last tail's worth."""
        text = "".join(self._buf)
        room = max(0, self.head_cap - self._start)
        if room and text:
            head = text[:room]
            self._ready.append((self._start, head))
            text, self._start = text[len(head):], self._start + len(head)
        if len(text) > self.tail_cap:
            self._start += len(text) - self.tail_cap
            text = text[-self.tail_cap:]
        self._buf, self._buf_len = [text], len(text)

    def flush(self) -> None:
        with self._send_lock:  # chunks leave in order, whichever thread flushes
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            self._compact()
            chunks = self._ready + ([(self._start, self._buf[0])] if self._buf_len else [])
            self._ready = []
            self._start += self._buf_len
            self._buf, self._buf_len = [], 0
        for offset, text in chunks:
            self._last = self.send(offset, text)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> "LogCapture":
        # A trial whose function never returned here (a scheduler paused or stopped it, and
        # Ray reuses this actor) left its capture installed: end it, so that this trial's
        # output goes to this trial's log alone.
        previous = LogCapture._active
        if previous is not None:
            previous.stop(wait_s=1.0)
        LogCapture._active = self
        root = logging.getLogger()
        handler = _Handler(self)
        self._saved = (sys.stdout, sys.stderr, root.level, handler)
        sys.stdout, sys.stderr = _Tee(sys.stdout, self), _Tee(sys.stderr, self)
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)  # a trial's log.info() is part of its log
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a lost chunk must not end the trial
                pass

    def stop(self, wait_s: float = 10.0) -> None:
        """Restore the streams, send the rest, and wait (up to ``wait_s``) until it arrived."""
        if LogCapture._active is self:
            LogCapture._active = None
        if self._saved is None:
            return
        out, err, level, handler = self._saved
        self._saved = None
        sys.stdout, sys.stderr = out, err
        root = logging.getLogger()
        root.removeHandler(handler)
        root.setLevel(level)
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(wait_s)
        try:
            self.flush()
            if self._last is not None and hasattr(self._last, "hex"):
                import ray

                ray.get(self._last, timeout=wait_s)
        except Exception:  # noqa: BLE001 - the study goes on without the last lines
            pass

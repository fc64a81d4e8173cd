"""A trial's log, bounded: the first characters and the last kept, the cut marked.

One rule, used where the log is captured (the trial, hpsearch/capture.py, sends
no more than it may keep), where it is stored (the writer, on each chunk) and where
it is read (web, API, CLI). Standard library only: the trial side imports it.

Positions are character offsets in everything the trial printed. The stored log
is ``head`` (positions ``[0, len(head))``), then ``cut`` dropped characters, then
``tail`` (the last ``len(tail)`` of ``total``).
"""
from __future__ import annotations

from dataclasses import dataclass

# Characters of a trial's log kept at most (a quarter from its start, the rest from its end):
# HPSEARCH_TRIAL_LOG_MAX_CHARS, declared in hpsearch/settings.py (default 200,000).


def max_chars() -> int:
    """The cap, from ``$HPSEARCH_TRIAL_LOG_MAX_CHARS`` (default 200,000; at least 1,000;
    read and checked by hpsearch/settings.py)."""
    from hpsearch.settings import settings

    return settings().trial_log_max_chars


def split_cap(cap: int) -> tuple[int, int]:
    """(head, tail) characters kept for a cap."""
    head = cap // 4
    return head, cap - head


@dataclass
class BoundedLog:
    head: str = ""
    tail: str = ""
    total: int = 0
    cut: int = 0

    def append(self, offset: int, text: str, cap: int) -> None:
        """Add ``text`` printed at position ``offset`` (a gap before it was dropped by
        the sender, and counts as cut); keep at most ``cap`` characters."""
        head_cap, tail_cap = split_cap(cap)
        if offset < self.total:  # a chunk sent twice (a retried write): keep what is new
            text = text[self.total - offset:]
            offset = self.total
        self.cut += offset - self.total  # a gap: characters the sender already dropped
        self.total = offset + len(text)
        if not self.cut and not self.tail and len(self.head) < head_cap:
            room = head_cap - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        tail = self.tail + text
        if len(tail) > tail_cap:
            self.cut += len(tail) - tail_cap
            tail = tail[-tail_cap:]
        self.tail = tail

    def marker(self) -> str:
        return f"\n[... {self.cut:,} characters cut ...]\n"

    def text(self) -> str:
        """The whole stored log, the cut marked."""
        return self.head + (self.marker() if self.cut else "") + self.tail

    def since(self, after: int) -> tuple[str, int]:
        """What follows position ``after`` (0: everything) and the position it ends at.
        A reader whose position fell into the cut gets the marker and the tail."""
        if after <= 0:
            return self.text(), self.total
        tail_start = self.total - len(self.tail)
        if after >= tail_start:
            return self.tail[min(after, self.total) - tail_start:], self.total
        if after < len(self.head) and not self.cut:
            return self.head[after:] + self.tail, self.total
        if after < len(self.head):
            return self.head[after:] + self.marker() + self.tail, self.total
        return self.marker() + self.tail, self.total

    def last_lines(self, n: int) -> str:
        return "\n".join(self.text().rstrip("\n").splitlines()[-n:])


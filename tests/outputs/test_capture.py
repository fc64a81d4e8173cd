"""The trial side of logs, without Ray: what LogCapture sends rebuilds what was printed,
within the cap (the bounding rule itself: hpsearch/logtext.py)."""
from __future__ import annotations

import logging
import random
import sys

from hpsearch.capture import LogCapture
from hpsearch.logtext import BoundedLog


def test_sent_chunks_rebuild_the_output_head_and_tail():
    rng = random.Random(3)
    for cap, pieces in [(1000, 5), (4000, 40), (1000, 400), (4000, 2000)]:
        got, full = BoundedLog(), []
        cap_obj = LogCapture(lambda off, text: got.append(off, text, cap), cap, every_s=3600)
        for i in range(pieces):
            s = "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 90)))
            full.append(s)
            cap_obj.add(s)
            if rng.random() < 0.1:
                cap_obj.flush()
        cap_obj.flush()
        whole = "".join(full)
        assert got.total == len(whole)
        assert whole.startswith(got.head) and whole.endswith(got.tail)
        assert len(got.head) + len(got.tail) <= cap
        if len(whole) <= cap:  # nothing to cut: every character arrives
            assert got.cut == 0 and got.text() == whole


def test_streams_and_logging_are_captured_and_restored():
    sent: list[str] = []
    out, err = sys.stdout, sys.stderr
    capture = LogCapture(lambda off, text: sent.append(text), 10_000, every_s=3600).start()
    print("to stdout")
    print("to stderr", file=sys.stderr)
    logging.getLogger("some.lib").info("a record")
    capture.stop()
    assert sys.stdout is out and sys.stderr is err
    text = "".join(sent)
    assert "to stdout\n" in text and "to stderr\n" in text and "INFO some.lib: a record" in text
    print("after the trial")
    assert "after the trial" not in "".join(sent)


def test_a_capture_left_installed_is_ended_by_the_next_trial():
    """A paused trial's function may never return; the next trial in the same process
    must not write into the old trial's log."""
    first: list[str] = []
    second: list[str] = []
    out = sys.stdout
    old = LogCapture(lambda off, text: first.append(text), 10_000, every_s=3600).start()
    print("from the first trial")
    new = LogCapture(lambda off, text: second.append(text), 10_000, every_s=3600).start()
    print("from the second trial")
    new.stop()
    old.stop()  # late: restores nothing now
    assert sys.stdout is out
    assert "".join(first) == "from the first trial\n"
    assert "".join(second) == "from the second trial\n"

"""Where trials run: the store callback's slot book (a trial takes the lowest slot of its
node that was free when it started), fed as trials announce their node."""
from __future__ import annotations

from hpsearch.tune_callback import SlotBook


def where(node: str, t: float = 0.0) -> dict:
    return {"node_id": node, "node_host": "box", "node_ip": "127.0.0.1", "t": t}


def test_slots_are_per_node_and_reused_only_after_their_holder_ended():
    book = SlotBook()
    book.start("a", 0.0)
    book.start("b", 1.0)
    book.start("x", 1.5)
    got = dict((rid, w["slot"]) for rid, w in book.place([("b", where("n1")), ("a", where("n1")),
                                                          ("x", where("n2"))]))
    assert got == {"a": 0, "b": 1, "x": 0}  # placed by start time, whatever order they came in
    book.end("a", 5.0)
    book.start("c", 4.0)   # started before a ended (its announcement came late): a new slot
    book.start("d", 6.0)   # started after a ended: a's slot
    got = dict((rid, w["slot"]) for rid, w in book.place([("d", where("n1")), ("c", where("n1"))]))
    assert got == {"c": 2, "d": 0}


def test_a_trial_that_ended_before_it_was_placed_frees_its_slot():
    book = SlotBook()
    book.start("a", 0.0)
    book.end("a", 1.0)
    assert book.place([("a", where("n1"))])[0][1]["slot"] == 0
    book.start("b", 2.0)
    assert book.place([("b", where("n1"))])[0][1]["slot"] == 0


def test_a_restored_trial_leaves_its_old_slot():
    book = SlotBook()
    book.start("a", 0.0)
    book.place([("a", where("n1"))])
    book.start("a", 10.0)  # restored (its node died): placed again, on another node
    assert book.place([("a", where("n2"))])[0][1]["slot"] == 0
    book.start("b", 11.0)
    assert book.place([("b", where("n1"))])[0][1]["slot"] == 0


def test_a_trial_process_that_ends_right_after_its_trial_began_is_still_placed(ray_session):
    """A trial says where it runs once per process, through the study's sink. A trial that
    ends at once (a study's last, or a tiny one) may have its process ended right after: its
    node must still reach the sink, or the study records no node for it and the local Ray
    starts no warm worker for the next study (hpsearch/warm_workers.py, replenish)."""
    import os

    import ray

    from hpsearch import sink as sink_mod
    from hpsearch.trial import announce_placement

    sink = sink_mod.start_sink()

    @ray.remote(max_retries=0)
    def trial_process_that_exits(sink):
        announce_placement(sink)
        os._exit(0)  # the process ends with nothing else done, as a killed actor does

    for _ in range(5):  # five processes, each its first call to the sink
        ref = trial_process_that_exits.remote(sink)
        try:
            ray.get(ref, timeout=60)
        except ray.exceptions.WorkerCrashedError:
            pass
    _logs, _media, placements = ray.get(sink.drain.remote(), timeout=10)
    sink.close()
    assert len(placements) == 5, placements
    assert {w["node_id"] for _who, w in placements} == {ray.get_runtime_context().get_node_id()}

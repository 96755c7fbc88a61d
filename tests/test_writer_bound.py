"""The background writer holds a bounded number of waiting pictures; checkpoints and metric rows
are never dropped."""

from __future__ import annotations

import threading

from latentq.runtime.writer import MAX_PENDING_PICTURES, BackgroundWriter


def blocked_writer():
    writer = BackgroundWriter("test-bound")
    gate, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(10)

    writer.submit(hold)
    assert started.wait(10)
    return writer, gate


def test_waiting_per_epoch_pictures_are_bounded_and_counted():
    writer, gate = blocked_writer()
    written: list[str] = []
    for epoch in range(50):
        writer.submit(lambda e=epoch: written.append(f"picture {e}"), part="picture", droppable=True)
        writer.submit(lambda e=epoch: written.append(f"metrics {e}"))
    writer.submit_checkpoint(lambda: written.append("checkpoint"))
    gate.set()
    writer.flush()
    pictures = [w for w in written if w.startswith("picture")]
    assert len(pictures) == MAX_PENDING_PICTURES
    assert pictures[-1] == "picture 49"  # the newest are kept
    assert [w for w in written if w.startswith("metrics")] == [f"metrics {e}" for e in range(50)]
    assert "checkpoint" in written
    assert writer.dropped_pictures == 50 - MAX_PENDING_PICTURES
    writer.close()


def test_a_picture_replaces_a_waiting_one_of_the_same_key_in_place():
    writer, gate = blocked_writer()
    written: list[str] = []
    writer.submit(lambda: written.append("grid 1"), part="picture", key="images/samples.png")
    writer.submit(lambda: written.append("metrics"))
    writer.submit(lambda: written.append("grid 2"), part="picture", key="images/samples.png")
    gate.set()
    writer.flush()
    assert written == ["grid 2", "metrics"]
    assert writer.dropped_pictures == 1
    writer.close()


def test_pictures_that_may_not_be_dropped_wait_for_room_and_are_all_written():
    writer, gate = blocked_writer()
    written: list[str] = []
    for epoch in range(3):
        writer.submit(lambda e=epoch: written.append(f"epoch {e}"), part="picture", droppable=True)
    done = threading.Event()

    def final_pictures() -> None:
        for name in ("samples", "evolution", "reconstructions", "curves", "t-SNE", "stages"):
            writer.submit(lambda n=name: written.append(n), part="picture", key=f"images/{name}.png")
        done.set()

    submitter = threading.Thread(target=final_pictures)
    submitter.start()
    assert not done.wait(0.5)  # the queue is full of pictures: the training thread waits for room
    gate.set()
    submitter.join(10)
    writer.flush()
    assert [w for w in written if not w.startswith("epoch")] == [
        "samples", "evolution", "reconstructions", "curves", "t-SNE", "stages"]
    assert len([w for w in written if w.startswith("epoch")]) == 3 - writer.dropped_pictures
    assert writer.dropped_pictures >= 1  # the per-epoch ones made room first
    writer.close()

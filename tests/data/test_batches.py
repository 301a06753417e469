"""Batches: stream strips with targets shifted by one, padded line batches, exact positions."""

import numpy as np
import pytest

from charrnn.data.batches import IGNORE, LineBatches, Position, StreamBatches
from charrnn.errors import CharRNNError
from charrnn.vocab import BOS, EOS


def test_stream_targets_are_inputs_shifted_by_one_and_strips_continue():
    ids = np.arange(1000, dtype=np.uint16)
    batches = StreamBatches(ids, batch_size=4, seq_len=10)
    first, second = batches.next(), batches.next()
    assert first.new_epoch and not second.new_epoch
    assert (first.y[:, :-1] == first.x[:, 1:]).all()
    assert (first.y[:, -1] == second.x[:, 0]).all()  # each strip goes on where it stopped
    assert (second.x[:, 0] == first.x[:, 0] + 10).all()
    strip = 1000 // 4
    assert first.x[:, 0].tolist() == [0, strip, 2 * strip, 3 * strip]  # the streams are far apart


def test_stream_epochs_wrap_with_a_new_offset():
    ids = np.arange(200, dtype=np.uint16)
    batches = StreamBatches(ids, batch_size=2, seq_len=10, seed=3)
    steps = (((200 // 2) - 1) // 10)  # a strip of 100 characters holds 9 steps of 10 + 1
    taken = [batches.next() for _ in range(steps + 1)]
    assert taken[steps].new_epoch and batches.position.epoch == 1
    assert (taken[steps].y[:, :-1] == taken[steps].x[:, 1:]).all()


def test_epochs_count_passes_over_the_text_in_both_modes():
    stream = StreamBatches(np.arange(200, dtype=np.uint16), batch_size=2, seq_len=10, seed=3)  # 9 steps a pass
    ids = np.array([5, 6, EOS] * 10, dtype=np.uint16)
    lines = LineBatches(ids, batch_size=4, seq_len=8)  # 10 lines: 3 batches a pass
    for batches, per_pass in ((stream, 9), (lines, 3)):
        assert batches.epochs() == 0.0
        seen = []
        for _ in range(2 * per_pass):
            batches.next()
            seen.append(batches.epochs())
        assert seen[per_pass - 1] == pytest.approx(1.0) and seen[-1] == pytest.approx(2.0)
        assert seen == sorted(seen) and seen[0] == pytest.approx(1 / per_pass)
        position = Position(**vars(batches.position))
        batches.position = Position()
        batches.position = position
        assert batches.epochs() == pytest.approx(2.0)  # from the position alone: a resume continues it


def test_stream_position_restores_the_same_batches():
    ids = np.random.default_rng(0).integers(0, 50, 3000).astype(np.uint16)
    a = StreamBatches(ids, 3, 16, seed=5)
    for _ in range(70):
        a.next()
    b = StreamBatches(ids, 3, 16, seed=5)
    b.position = Position(**vars(a.position))
    for _ in range(30):
        x, y = a.next(), b.next()
        assert (x.x == y.x).all() and (x.y == y.y).all()


def test_stream_too_short_is_a_clear_error():
    with pytest.raises(CharRNNError, match="too short"):
        StreamBatches(np.arange(100, dtype=np.uint16), batch_size=8, seq_len=32)


def test_lines_are_padded_with_a_loss_mask():
    a, b, c = 5, 6, 7
    ids = np.array([a, b, EOS, c, EOS, a, a, a, EOS], dtype=np.uint16)
    batches = LineBatches(ids, batch_size=3, seq_len=50)
    batch = batches.next()
    rows = {tuple(t for t in row if t != IGNORE): (x, row) for x, row in zip(batch.x.tolist(), batch.y.tolist())}
    assert set(rows) == {(a, b, EOS), (c, EOS), (a, a, a, EOS)}
    x, y = rows[(c, EOS)]
    assert x[:2] == [BOS, c] and y == [c, EOS, IGNORE, IGNORE]
    for x, y in rows.values():  # targets are inputs shifted by one, after <bos>
        n = sum(t != IGNORE for t in y)
        assert x[0] == BOS and x[1:n] == y[: n - 1]


def test_long_lines_are_cut_with_a_warning(capsys):
    ids = np.array([5] * 40 + [EOS] + [6, EOS], dtype=np.uint16)
    batches = LineBatches(ids, batch_size=2, seq_len=10)
    assert "longer than --seq-len" in capsys.readouterr().err
    assert batches.next().x.shape[1] == 10


def test_too_few_lines_for_a_batch():
    with pytest.raises(CharRNNError, match="fewer than one batch"):
        LineBatches(np.array([5, EOS, 6, EOS], dtype=np.uint16), batch_size=8, seq_len=10)

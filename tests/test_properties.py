"""Properties of the pure core, checked on inputs Hypothesis makes up (a fixed seed, bounded examples)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import charrnn
from charrnn.data.batches import IGNORE, LineBatches, StreamBatches
from charrnn.errors import CharRNNError
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import sample_next
from charrnn.vocab import BOS, EOS, Vocabulary
from charrnn.writers.poem_form import FORMS, poem_lines

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
# any text: astral characters, combining marks, controls; no lone surrogates (see below)
TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200)


@SETTINGS
@given(TEXT)
def test_the_vocabulary_round_trips_any_text(text):
    vocab = Vocabulary.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    again = Vocabulary.from_json(vocab.to_json())
    assert again.chars == vocab.chars and (again.encode(text) == vocab.encode(text)).all()


@SETTINGS
@given(TEXT, st.integers(0xD800, 0xDFFF))
def test_a_lone_surrogate_is_refused_in_one_line(text, code):
    with pytest.raises(CharRNNError, match="surrogate"):
        Vocabulary.from_text(text + chr(code))


@SETTINGS
@given(st.integers(200, 3000), st.integers(1, 8), st.integers(2, 24), st.integers(0, 9))
def test_stream_batches_read_each_character_at_most_once_an_epoch(n, batch, seq, seed):
    ids = np.arange(n, dtype=np.int64)
    if (n - (seq - 1)) // batch < seq + 1:
        return  # too short for one batch: refused elsewhere
    batches = StreamBatches(ids, batch, seq, seed)
    epochs: list[list[np.ndarray]] = []
    while len(epochs) < 3:
        b = batches.next()
        if b.new_epoch:
            epochs.append([])
        epochs[-1].append(b.x.flatten().numpy())
        assert (b.y[:, :-1] == b.x[:, 1:]).all()  # targets are the next characters
    for seen in epochs[:2]:  # two whole epochs
        read = np.concatenate(seen)
        assert len(np.unique(read)) == len(read)  # no character read twice in an epoch
        assert n - len(read) < batch * (seq + 1) + seq  # and what is left out is less than a batch's worth


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=4, max_size=60), st.integers(1, 4), st.integers(0, 9))
def test_line_batches_make_every_token_of_every_line_a_target_once_an_epoch(lengths, batch, seed):
    if len(lengths) < batch:
        return
    ids = np.concatenate([np.r_[np.full(k, 3 + i), EOS] for i, k in enumerate(lengths)])  # line i: id 3+i
    batches = LineBatches(ids, batch, seq_len=8, seed=seed)
    for _ in range(2):  # two whole epochs
        targets = []
        for _ in range(batches.steps):
            b = batches.next()
            assert b.x.shape[0] == batch
            for x_row, y_row in zip(b.x.tolist(), b.y.tolist()):
                kept = [t for t in y_row if t != IGNORE]
                if kept:  # a line: fed from <bos>, its targets are its characters and its <eos>
                    assert x_row[0] == BOS and x_row[1:len(kept)] == kept[:-1] and kept[-1] == EOS
                targets += kept
        assert sorted(targets) == sorted(ids.tolist())


@SETTINGS
@given(st.integers(2, 40), st.integers(1, 5), st.data())
def test_sampling_never_picks_a_banned_id(vocab_size, rows, data):
    seed = data.draw(st.integers(0, 2**31 - 1))
    logits = torch.randn(rows, vocab_size, generator=torch.Generator().manual_seed(seed)) * 5
    banned = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=vocab_size, max_size=vocab_size),
                                             min_size=rows, max_size=rows)))
    banned[:, data.draw(st.integers(0, vocab_size - 1))] = False  # at least one id allowed in each row
    options = SamplingOptions(temperature=data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
                              top_k=data.draw(st.integers(0, vocab_size)), top_p=data.draw(st.sampled_from([0.1, 0.9, 1.0])))
    picked = sample_next(logits, options, torch.Generator().manual_seed(seed), banned)
    assert not banned[torch.arange(rows), picked].any()


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(form=st.sampled_from([None, *FORMS]), heads=st.text(st.characters(codec="utf-8"), max_size=9),
       rhyme=st.booleans(), seed=st.integers(0, 1000))
def test_a_poem_has_its_form_or_is_refused_in_one_line(poems_model, form, heads, rhyme, seed):
    try:
        poem = poems_model.poem(form, acrostic=heads or None, rhyme=rhyme, seed=seed)
    except CharRNNError as e:
        assert "\n" not in str(e)
        return
    n, m = FORMS.get(form, (5, None))
    lines = poem_lines(poem)
    assert "".join(lines) == poem and all(len(line) == n + 1 for line in lines)
    assert m is None or len(lines) == m


@pytest.fixture(scope="module")
def poems_model(poems_run):
    return charrnn.load(poems_run, device="cpu")

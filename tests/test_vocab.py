"""Vocabulary: round trips, <unk>, --max-vocab, the JSON form and its version."""

import json

import numpy as np
import pytest

from charrnn.errors import CharRNNError
from charrnn.vocab import BOS, EOS, SPECIALS, UNK, Vocabulary


def test_round_trip_and_sorted_ids():
    text = "hello, world\n"
    vocab = Vocabulary.from_text(text)
    assert vocab.chars == sorted(set(text))
    assert len(vocab) == len(set(text)) + len(SPECIALS)
    ids = vocab.encode(text)
    assert ids.dtype == np.uint16
    assert vocab.decode(ids) == text
    assert [vocab.id_of(c) for c in text] == ids.tolist()


def test_unknown_characters_become_unk():
    vocab = Vocabulary.from_text("abc")
    ids = vocab.encode("abzc")
    assert ids.tolist() == [vocab.id_of("a"), vocab.id_of("b"), UNK, vocab.id_of("c")]
    assert vocab.decode(ids) == "ab\ufffdc"
    assert vocab.unknown("abzzq") == {"z": 2, "q": 1}


def test_chinese_is_one_token_per_character():
    text = "床前明月光，疑是地上霜。"
    vocab = Vocabulary.from_text(text)
    assert len(vocab.encode(text)) == len(text)
    assert vocab.decode(vocab.encode(text)) == text


def test_max_vocab_keeps_the_most_frequent():
    vocab = Vocabulary.from_text("aaaabbbcc d", max_vocab=2)
    assert vocab.chars == ["a", "b"]
    assert vocab.encode("abcd").tolist() == [vocab.id_of("a"), vocab.id_of("b"), UNK, UNK]


def test_specials_decode_to_nothing():
    vocab = Vocabulary.from_text("ab")
    assert vocab.decode([BOS, vocab.id_of("a"), EOS]) == "a"


def test_json_round_trip():
    vocab = Vocabulary.from_text("héllo 世界\n")
    again = Vocabulary.from_json(vocab.to_json())
    assert again.chars == vocab.chars


def test_json_from_a_newer_format_is_refused():
    data = json.loads(Vocabulary.from_text("ab").to_json())
    data["format"] = 99
    with pytest.raises(CharRNNError, match="newer"):
        Vocabulary.from_json(json.dumps(data))


def test_large_vocabulary_uses_uint32():
    vocab = Vocabulary([chr(i) for i in range(0x100, 0x100 + 2**16 + 2048) if not 0xD800 <= i <= 0xDFFF])
    assert vocab.dtype == np.uint32

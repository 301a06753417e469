"""Streaming text in small chunks gives exactly what reading the whole file would."""

import pytest

from charrnn.data import textstream
from charrnn.data.corpus import encode_files
from charrnn.errors import CharRNNError
from charrnn.data.textstream import file_chunks


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(textstream, "CHUNK_BYTES", 7)  # splits characters, CRLFs and lines


def whole(path, mode="stream"):
    return "".join(file_chunks(path, "utf-8", mode))


def test_multibyte_characters_crlf_and_bom_across_chunks(tmp_path):
    text = "\ufeff床前明月光，\r\n疑是地上霜。\r\nabc"
    path = tmp_path / "p.txt"
    path.write_bytes(text.encode("utf-8"))
    assert whole(path) == "床前明月光，\n疑是地上霜。\nabc\n"


def test_lines_mode_keeps_whole_non_empty_lines(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("Aachenosaurus\n\n   \nZuul\r\nAbel")
    assert whole(path, "lines") == "Aachenosaurus\nZuul\nAbel\n"


def test_decode_error_offset_is_in_the_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("ab世界cdefghijkl".encode() + b"\xff" + b"tail")
    offset = len("ab世界cdefghijkl".encode())
    with pytest.raises(CharRNNError, match=f"byte offset {offset} "):
        whole(path)


def test_encoding_streams_to_the_same_ids(tmp_path, shakespeare_text, monkeypatch):
    path = tmp_path / "s.txt"
    path.write_text(shakespeare_text[:5000])
    ids, vocab, _ = encode_files([path], "stream")
    assert vocab.decode(ids) == shakespeare_text[:5000] + ("" if shakespeare_text[4999] == "\n" else "\n")
    assert type(ids).__name__ == "memmap"  # a token file in the cache, not an in-memory copy

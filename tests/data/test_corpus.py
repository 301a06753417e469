"""Reading corpora: files and folders, strict decoding, the encode cache, and both splits."""

import numpy as np
import pytest

from charrnn.data import corpus
from charrnn.data.batches import line_spans
from charrnn.data.corpus import collect_files, encode_files, load_corpus, read_text, split
from charrnn.errors import CharRNNError
from charrnn.vocab import EOS


def test_folders_are_read_recursively_with_a_glob(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.py").write_text("print(1)\n")
    (tmp_path / "two.py").write_text("print(2)\n")
    (tmp_path / "notes.txt").write_text("skip me\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.py").write_text("hidden\n")
    files = collect_files([str(tmp_path)], glob="*.py")
    assert [f.name for f in files] == ["one.py", "two.py"]


def test_binary_files_in_folders_are_skipped_with_a_warning(tmp_path, capsys):
    (tmp_path / "text.txt").write_text("hello\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    assert [f.name for f in collect_files([str(tmp_path)])] == ["text.txt"]
    assert "skipped 1 binary" in capsys.readouterr().err


def test_decode_error_names_the_file_and_offset(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf".encode() + "é".encode("latin-1") + b" au lait")
    with pytest.raises(CharRNNError, match=r"latin.txt: not valid utf-8 at byte offset 3"):
        read_text(path)
    assert read_text(path, "latin-1") == "café au lait"


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"ab\x00cd" * 10)
    with pytest.raises(CharRNNError, match="binary"):
        read_text(path)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(CharRNNError, match="no such file or folder"):
        collect_files([str(tmp_path / "nope.txt")])
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(CharRNNError, match="empty"):
        load_corpus([tmp_path / "empty.txt"], "stream")


def test_encoding_is_cached(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("abcabc\n" * 100)
    ids, vocab, _ = encode_files([path], "stream")

    def no_reading(*args, **kwargs):
        raise AssertionError("the cached corpus was read again")

    monkeypatch.setattr(corpus, "read_text", no_reading)
    again, vocab2, _ = encode_files([path], "stream")
    assert np.array_equal(ids, again) and vocab2.chars == vocab.chars


def test_stream_split_is_the_end_of_the_text():
    ids = np.arange(100, dtype=np.uint16)
    train, val = split(ids, "stream", 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))


def test_lines_mode_keeps_whole_lines_and_drops_blank_ones(tmp_path, dinos_text):
    path = tmp_path / "d.txt"
    path.write_text(dinos_text + "\n\n   \n")
    c = load_corpus([path], "lines", val_frac=0.1)
    names = [n for n in dinos_text.split("\n") if n.strip()]
    assert "\n" not in c.vocab
    n_train, n_val = int((c.train == EOS).sum()), int((c.val == EOS).sum())
    assert n_train + n_val == len(names) and abs(n_val - round(0.1 * len(names))) <= 1
    def lines_of(ids):
        return [c.vocab.decode(ids[a:b]) for a, b in line_spans(ids)]

    assert set(lines_of(c.train)) | set(lines_of(c.val)) == set(names)  # whole names, none cut in two
    # the split is a fixed random one: val holds names from across the alphabet
    val_names = lines_of(c.val)
    assert len({n[0] for n in val_names}) > 5


def test_max_vocab_maps_rare_characters_to_unk(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("aaaa bbbb cccc dddd ééé 世\n" * 50)
    c = load_corpus([path], "stream", max_vocab=5)
    assert len(c.vocab.chars) == 5 and "世" not in c.vocab


def test_token_counts_read_in_chunks():
    import numpy as np

    from charrnn.data.corpus import token_counts

    ids = np.array([3, 4, 4, 5, 5, 5, 3], dtype=np.uint16)
    assert token_counts(ids, 7, chunk=2).tolist() == [0, 0, 0, 2, 2, 3, 0]

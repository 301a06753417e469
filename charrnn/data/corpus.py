"""From files, folders or a named dataset to encoded train/val token arrays.

    paths / --dataset -> files -> text (strict decoding) -> Vocabulary -> ids (uint16/uint32)
                                                                   \\-> cached per corpus as .npy

stream mode: the text as one sequence; val is the last `val_frac` of it (contiguous, as nanoGPT).
lines mode:  every non-empty line is one sample; each is stored as its ids followed by <eos>:

    "Zuul\\nAbel\\n"  ->  [Z u u l <eos> A b e l <eos>]

and val is a fixed random `val_frac` of the lines (a sorted list such as dinosaur names would
otherwise put only the last letters of the alphabet in val).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.cache import cache_dir
from charrnn.data.catalog import get_dataset
from charrnn.data.downloads import dataset_files
from charrnn.data.textstream import keep_lines, text_chunks
from charrnn.errors import CharRNNError, warn
from charrnn.vocab import EOS, UNK, Vocabulary

MODES = ("stream", "lines")
CACHE_VERSION = 2


@dataclass
class Corpus:
    vocab: Vocabulary
    mode: str  # "stream" or "lines"
    train: np.ndarray  # token ids; in lines mode every sample ends with <eos>
    val: np.ndarray
    name: str  # for messages and default run names
    unknown: int = 0  # characters mapped to <unk> because the vocabulary was given


def collect_files(inputs: list[str], glob: str = "*") -> list[Path]:
    """Files named directly, plus the files under named folders (recursive, matching `glob`)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob(glob) if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            text_files = [p for p in found if not _looks_binary(p)]
            if len(text_files) < len(found):
                warn(f"{path}: skipped {len(found) - len(text_files)} binary file(s)")
            if not text_files:
                raise CharRNNError(f"{path}: no text files matching --glob {glob!r} in this folder")
            files.extend(text_files)
        elif path.exists():
            raise CharRNNError(f"{path}: not a regular file or folder")
        else:
            raise CharRNNError(f"{path}: no such file or folder")
    return files


def source_files(dataset: str | None, inputs: list[str], glob: str = "*") -> tuple[list[Path], str, str]:
    """(files, corpus name, default mode) of a named dataset or of input paths (the training flags)."""
    if dataset:
        return dataset_files(dataset), get_dataset(dataset).name, get_dataset(dataset).default_mode
    if not inputs:
        raise CharRNNError("nothing to train on: give files or folders, or --dataset NAME "
                           "(see `charrnn datasets`)")
    return collect_files(inputs, glob), Path(inputs[0]).resolve().name.split(".")[0] or "corpus", "stream"


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(8192)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole file as text, with a one-line error for unreadable, binary or mis-encoded files."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CharRNNError(f"{path}: cannot read ({e.strerror})") from None
    if b"\0" in data[:8192] and encoding.replace("-", "").lower() in ("utf8", "ascii", "latin1"):
        raise CharRNNError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
    try:
        text = data.decode(encoding)
    except LookupError:
        raise CharRNNError(f"--encoding {encoding!r}: unknown text encoding") from None
    except UnicodeDecodeError as e:
        raise CharRNNError(f"{path}: not valid {encoding} at byte offset {e.start} "
                           f"(pass --encoding, e.g. --encoding latin-1 or gb18030)") from None
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def normalise(text: str, mode: str) -> str:
    """Lines mode keeps the non-empty lines, each ended by a newline (which becomes <eos>)."""
    return keep_lines(text) if mode == "lines" else text


def _encode(text: str, vocab: Vocabulary, mode: str) -> np.ndarray:
    ids = vocab.encode(text)
    if mode == "lines":  # newlines end samples: they become <eos> and are not characters of the vocabulary
        ids[_code_points(text) == 10] = EOS
    return ids


def normalised_text(text: str, mode: str) -> str:
    """A text (not a file) as the model reads it: CRLF as LF; lines mode keeps the non-empty lines."""
    return normalise(text.replace("\r\n", "\n"), mode)


def encode_text(text: str, vocab: Vocabulary, mode: str) -> tuple[np.ndarray, int]:
    """A text (not a file) as ids for a given vocabulary: (ids, characters read as <unk>)."""
    ids = _encode(normalised_text(text, mode), vocab, mode)
    return ids, int((ids == UNK).sum())


def _stats(files: list[Path]) -> list[tuple[str, int, int]]:
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def _cache_key(files: list[Path], encoding: str, mode: str, max_vocab: int | None,
               vocab: Vocabulary | None) -> str:
    spec = {"v": CACHE_VERSION, "files": _stats(files), "encoding": encoding, "mode": mode,
            "max_vocab": max_vocab, "vocab": vocab.chars if vocab else None}
    return hashlib.sha256(json.dumps(spec, ensure_ascii=False).encode()).hexdigest()[:24]


def _count_characters(files: list[Path], encoding: str, mode: str) -> Counter:
    """Pass 1 (new vocabularies only): how often each character occurs, streaming the files."""
    counts = np.zeros(0x110000, dtype=np.int64)
    for chunk in text_chunks(files, encoding, mode):
        counts += np.bincount(_code_points(chunk), minlength=0x110000)
    if mode == "lines":
        counts[10] = 0  # newlines end samples; they are <eos>, not characters
    visible = counts.copy()
    visible[[9, 10, 11, 12, 13, 32]] = 0
    if not visible.any():
        raise CharRNNError(f"{', '.join(map(str, files[:3]))}: the corpus is empty")
    return Counter({chr(c): int(counts[c]) for c in np.flatnonzero(counts)})


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _load_cache(folder: Path) -> tuple[np.ndarray, Vocabulary, int] | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        vocab = Vocabulary.from_json((folder / "vocab.json").read_text(encoding="utf-8"))
        ids = np.memmap(folder / "tokens.bin", dtype=np.dtype(meta["dtype"]), mode="r")
        if len(ids) != meta["length"]:
            return None
        return ids, vocab, meta["unknown"]
    except (OSError, ValueError, KeyError, TypeError, CharRNNError):
        return None  # missing or damaged: encode again


def encode_files(files: list[Path], mode: str, encoding: str = "utf-8", max_vocab: int | None = None,
                 vocab: Vocabulary | None = None) -> tuple[np.ndarray, Vocabulary, int]:
    """All files as one id array (a vocabulary is built unless `vocab` is given): (ids, vocab,
    characters read as <unk>). The ids are a token file in the cache, memory-mapped, written once
    per corpus: the files are streamed through twice (count, then encode), never loaded whole."""
    before = _stats(files)
    folder = cache_dir() / "tokens" / _cache_key(files, encoding, mode, max_vocab, vocab)
    cached = _load_cache(folder)
    if cached is not None:
        return cached
    given = vocab is not None
    if vocab is None:
        vocab = Vocabulary.from_counts(_count_characters(files, encoding, mode), max_vocab)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tokens.{os.getpid()}.bin"
        sink = open(tmp, "wb")
    except OSError as e:
        warn(f"could not cache the encoded corpus in {folder} ({e.strerror}); encoding in memory")
        parts = [_encode(chunk, vocab, mode) for chunk in text_chunks(files, encoding, mode)]
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=vocab.dtype)
        return ids, vocab, int((ids == UNK).sum()) if given else 0
    length, unknown = 0, 0
    with sink:
        for chunk in text_chunks(files, encoding, mode):
            ids = _encode(chunk, vocab, mode)
            sink.write(ids.tobytes())
            length += len(ids)
            unknown += int((ids == UNK).sum()) if given else 0
    if length == 0:
        tmp.unlink(missing_ok=True)
        raise CharRNNError(f"{', '.join(map(str, files[:3]))}: the corpus is empty")
    if _stats(files) != before:  # written to while it was read: the tokens may mix two versions
        tmp.unlink(missing_ok=True)
        raise CharRNNError(f"{', '.join(map(str, files[:3]))}: a file changed while it was read; "
                           f"train again once it is written")
    (folder / "vocab.json").write_text(vocab.to_json(), encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps({"dtype": np.dtype(vocab.dtype).name, "length": length,
                                                  "unknown": unknown}), encoding="utf-8")
    os.replace(tmp, folder / "tokens.bin")
    return np.memmap(folder / "tokens.bin", dtype=vocab.dtype, mode="r"), vocab, unknown


def split(ids: np.ndarray, mode: str, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, val). Stream: the last val_frac of the text. Lines: a fixed random val_frac of lines."""
    if mode == "stream":
        n_val = int(len(ids) * val_frac)
        return ids[: len(ids) - n_val], ids[len(ids) - n_val:]
    ends = np.flatnonzero(ids == EOS) + 1
    starts = np.concatenate([[0], ends[:-1]])
    n_val = int(round(len(starts) * val_frac))
    if val_frac > 0 and len(starts) > 1:
        n_val = min(max(n_val, 1), len(starts) - 1)
    is_val = np.zeros(len(starts), dtype=bool)
    is_val[np.random.default_rng(0).permutation(len(starts))[:n_val]] = True  # fixed: same split for every seed
    lengths = ends - starts
    sample_of_token = np.repeat(np.arange(len(starts)), lengths)
    token_is_val = is_val[sample_of_token]
    return ids[~token_is_val], ids[token_is_val]


def load_corpus(files: list[Path], mode: str, *, encoding: str = "utf-8", max_vocab: int | None = None,
                vocab: Vocabulary | None = None, val_frac: float = 0.1, name: str = "corpus") -> Corpus:
    if mode not in MODES:
        raise CharRNNError(f"--mode {mode!r}: choose stream or lines")
    ids, vocab, unknown = encode_files(files, mode, encoding, max_vocab, vocab)
    train, val = split(ids, mode, val_frac)
    return Corpus(vocab=vocab, mode=mode, train=train, val=val, name=name, unknown=unknown)


def token_counts(ids: np.ndarray, vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """How often each id occurs (V,), read in chunks so a memory-mapped corpus stays on disk."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(ids), chunk):
        counts += np.bincount(np.asarray(ids[start:start + chunk], dtype=np.int64), minlength=vocab_size)
    return counts

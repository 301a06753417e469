"""Characters <-> ids: the vocabulary, its special tokens and its JSON form.

Ids 0..2 are the special tokens, then the characters in sorted order:

    0 <unk>   any character the vocabulary does not hold (rare ones cut by --max-vocab,
              new ones met when fine-tuning or priming)
    1 <bos>   begins a sample in lines mode (the model's input, never a target)
    2 <eos>   ends a sample in lines mode (a target: the model learns when to stop)
    3...      the characters

Characters are single Unicode code points, never bytes, so Chinese text is one token a character.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from charrnn.errors import CharRNNError

FORMAT_VERSION = 1
SPECIALS = ("<unk>", "<bos>", "<eos>")
UNK, BOS, EOS = 0, 1, 2


@dataclass
class Vocabulary:
    chars: list[str]  # the characters, in id order (id = index + len(SPECIALS))
    _index: dict[str, int] = field(init=False, repr=False)
    _table: np.ndarray = field(init=False, repr=False)  # code point -> id, for vectorised encoding

    def __post_init__(self) -> None:
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise CharRNNError("vocabulary: characters must be distinct single code points")
        surrogates = [c for c in self.chars if "\ud800" <= c <= "\udfff"]
        if surrogates:
            raise CharRNNError(f"vocabulary: U+{ord(surrogates[0]):04X} is half of a UTF-16 surrogate pair, "
                               f"not a character: the text was decoded wrongly")
        self._index = {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._table = np.full(int(codes.max()) + 1 if len(codes) else 1, UNK, dtype=self.dtype)
        self._table[codes] = np.arange(len(SPECIALS), len(self), dtype=np.int64)

    # --- building -------------------------------------------------------------------------
    @classmethod
    def from_counts(cls, counts: Counter[str], max_vocab: int | None = None) -> Vocabulary:
        """Keep every character, or the `max_vocab` most frequent ones (ties broken by code point)."""
        chars = sorted(counts)
        if max_vocab is not None and len(chars) > max_vocab:
            kept = sorted(chars, key=lambda c: (-counts[c], c))[:max_vocab]
            chars = sorted(kept)
        return cls(chars)

    @classmethod
    def from_text(cls, text: str, max_vocab: int | None = None) -> Vocabulary:
        return cls.from_counts(Counter(text), max_vocab)

    # --- use ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    @property
    def dtype(self) -> type:
        """The smallest unsigned integer type that holds every id."""
        return np.uint16 if len(self) <= 2**16 else np.uint32

    def id_of(self, char: str) -> int:
        return self._index.get(char, UNK)

    def encode(self, text: str) -> np.ndarray:
        """Text -> ids (unknown characters become <unk>), vectorised for large corpora: a lookup
        table indexed by code point, as long as the largest code point of the vocabulary."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        table = self._table
        inside = np.minimum(codes, len(table) - 1)
        return np.where(codes < len(table), table[inside], UNK).astype(self.dtype, copy=False)

    def decode(self, ids) -> str:
        """Ids -> text. Specials print as nothing, except <unk>, which prints as U+FFFD."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
            elif i == UNK:
                out.append("\ufffd")
        return "".join(out)

    def as_text(self, ids) -> str:
        """Ids -> text where <eos> is a newline (lines mode's line end) and <unk> is U+FFFD."""
        table = np.array(["\ufffd", "", "\n"] + self.chars, dtype=object)  # ids in SPECIALS order
        return "".join(table[np.asarray(ids, dtype=np.int64)].tolist())

    def unknown(self, text: str) -> Counter[str]:
        """The characters of `text` that this vocabulary lacks, with counts (for warnings)."""
        return Counter(c for c in text if c not in self._index)

    # --- JSON -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, "specials": list(SPECIALS), "chars": self.chars},
                          ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str, source: str = "vocab.json") -> Vocabulary:
        try:
            data = json.loads(text)
            version, specials, chars = data["format"], data["specials"], data["chars"]
        except (ValueError, KeyError, TypeError):
            raise CharRNNError(f"{source}: not a charrnn vocabulary (unreadable JSON)") from None
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CharRNNError(f"{source}: vocabulary format {version} is newer than this charrnn "
                               f"understands ({FORMAT_VERSION}); upgrade charrnn")
        if tuple(specials) != SPECIALS or not isinstance(chars, list):
            raise CharRNNError(f"{source}: unexpected special tokens {specials}")
        return cls(chars)

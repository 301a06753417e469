"""PoemForm: the shape a poem is written in, from the flags (`--form`, `--acrostic`, `--rhyme`,
`--meter`, `--keywords`, ...), checked once; and the small functions about a poem's lines.

    FORMS            wujue 5x4, qijue 7x4, wulv 5x8, qilv 7x8 (characters a line x lines)
    PoemForm         chars_per_line, lines, heads, rhyme, meter, book, pattern, keywords; from_options
    poem_lines       a poem's lines, each with the mark that ends it
    is_line_char     what may stand in a line: a letter or a number (Han characters are letters)

The constraints that write a form are poems.py (the plain form), verse.py (regulated verse) and
keywords.py (keywords placed by the decoder); they all read a PoemForm.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from charrnn.errors import CharRNNError
from charrnn.writers.meter import METERS, OPENINGS
from charrnn.writers.rhyme_books import DEFAULT_BOOK, check_book

FORMS = {"wujue": (5, 4), "qijue": (7, 4), "wulv": (5, 8), "qilv": (7, 8)}  # name: (characters a line, lines)
FORM_NAMES = {"wujue": "五言绝句", "qijue": "七言绝句", "wulv": "五言律诗", "qilv": "七言律诗"}
COMMA, PERIOD = "，", "。"
MAX_CHARS_PER_LINE, MAX_LINES = 32, 64


def is_line_char(char: str) -> bool:
    """A letter or a number (Han characters are letters); not punctuation, space, symbol or control."""
    return unicodedata.category(char)[0] in "LN"


def clean_heads(acrostic: str) -> str:
    """The head characters the user meant: punctuation and spaces typed among them are dropped."""
    return "".join(c for c in acrostic if is_line_char(c))


def poem_lines(poem: str) -> list[str]:
    """A poem's lines, each with the mark that ends it: "床前明月光，疑是地上霜。" -> two lines."""
    return re.findall(f"[^{COMMA}{PERIOD}]+[{COMMA}{PERIOD}]", poem)


@dataclass(frozen=True)
class PoemForm:
    chars_per_line: int = 5
    lines: int = 4
    heads: str = ""  # acrostic: the first character of each line
    rhyme: bool = False
    meter: str = "off"  # strict, loose (regulated verse: verse.py) or off
    book: str = DEFAULT_BOOK  # the rhyme book of --meter's tones and rhymes (rhyme_books.py)
    pattern: str | None = None  # pingqi or zeqi; None: the model opens as it likes
    keywords: tuple[str, ...] = ()  # each in every poem, placed by the decoder (keywords.py)

    def __post_init__(self) -> None:
        if not 2 <= self.chars_per_line <= MAX_CHARS_PER_LINE:
            raise CharRNNError(f"--chars-per-line must be in [2, {MAX_CHARS_PER_LINE}] (got {self.chars_per_line})")
        if not 1 <= self.lines <= MAX_LINES:
            raise CharRNNError(f"--lines must be in [1, {MAX_LINES}] (got {self.lines})")
        if self.heads and len(self.heads) != self.lines:
            raise CharRNNError(f"--acrostic gives {len(self.heads)} heads but the poem has {self.lines} lines: "
                               f"give one head per line (or drop --form/--lines to take the count from the heads)")
        if self.rhyme and self.lines < 2:
            raise CharRNNError("--rhyme needs at least 2 lines (the even lines rhyme)")
        check_book(self.book)
        for word in self.keywords:
            if not all(is_line_char(c) for c in word) or len(word) > self.chars_per_line:
                raise CharRNNError(f"--keywords {word!r}: a keyword is a word of at most {self.chars_per_line} "
                                   f"letters or Han characters (no punctuation)")
        if self.meter not in METERS:
            raise CharRNNError(f"--meter {self.meter!r}: choose {', '.join(METERS)}")
        if self.pattern is not None and self.pattern not in OPENINGS:
            raise CharRNNError(f"--pattern {self.pattern!r}: choose {' or '.join(OPENINGS)}")
        if self.pattern is not None and self.meter == "off":
            raise CharRNNError("--pattern chooses a tonal pattern: give --meter strict or loose with it")
        if self.meter != "off" and (self.chars_per_line not in (5, 7) or self.lines not in (4, 8)):
            raise CharRNNError(f"--meter is for regulated verse, 5 or 7 characters a line and 4 or 8 lines "
                               f"(绝句, 律诗); this form is {self.chars_per_line}x{self.lines}")

    @classmethod
    def from_options(cls, form: str | None = None, chars_per_line: int | None = None, lines: int | None = None,
                     acrostic: str | None = None, rhyme: bool = False, meter: str = "off",
                     book: str = DEFAULT_BOOK, pattern: str | None = None,
                     keywords: str | Sequence[str] | None = None) -> PoemForm:
        """The CLI's flags -> a form. No form and no size: 5 characters a line, 4 lines (or one per head).
        A meter implies rhyme."""
        verse = {"meter": meter, "book": book, "pattern": pattern, "keywords": parse_keywords(keywords)}
        rhyme = rhyme or meter != "off"
        heads = clean_heads(acrostic) if acrostic is not None else ""
        if acrostic is not None and not heads:
            raise CharRNNError(f"--acrostic {acrostic!r}: no head characters (only punctuation or spaces)")
        if form is not None:
            if form not in FORMS:
                choices = ", ".join(f"{k} ({FORM_NAMES[k]}, {n}x{m})" for k, (n, m) in FORMS.items())
                raise CharRNNError(f"--form {form!r}: choose {choices}, or give --chars-per-line and --lines")
            n, m = FORMS[form]
            for flag, given, value in (("--chars-per-line", chars_per_line, n), ("--lines", lines, m)):
                if given is not None and given != value:
                    raise CharRNNError(f"--form {form} has {value} for {flag}, not {given}: drop one of them")
            return cls(n, m, heads, rhyme, **verse)
        n = 5 if chars_per_line is None else chars_per_line
        m = lines if lines is not None else (len(heads) or 4)
        return cls(n, m, heads, rhyme, **verse)

    @property
    def length(self) -> int:
        """Characters in the whole poem, marks included."""
        return self.lines * (self.chars_per_line + 1)

    def mark(self, line: int) -> str:
        """The mark ending line `line` (0-based): ， after odd lines (1st, 3rd, ...), 。 after even ones and the last."""
        return PERIOD if line % 2 == 1 or line == self.lines - 1 else COMMA

    def rhyme_position(self, line: int) -> int:
        return line * (self.chars_per_line + 1) + self.chars_per_line - 1


def parse_keywords(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """"月,江" or ["月", "江"] -> ("月", "江"): split on commas (， too) and spaces, each once."""
    if text is None:
        return ()
    parts = text.replace("，", ",").replace(" ", ",").split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))

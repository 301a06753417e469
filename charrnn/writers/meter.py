"""The tonal patterns (平仄) of regulated verse, and a checker.

A five-character line is one of four types; a seven-character line puts two characters of the
opposite tone before one of them:

    A 仄仄平平仄    B 平平仄仄平    C 平平平仄仄    D 仄仄仄平平        7: 平平 + A, 仄仄 + B, ...

A quatrain (绝句) is one of four patterns, by its opening (平起 or 仄起: the tone of the first line's
second character) and whether its first line rhymes; the even lines end in 平 and rhyme. Line 2
answers line 1 (对: opposite tones), line 3 follows line 2 (粘: same second character), and an
eight-line 律诗 repeats the quatrain, its fifth line the non-rhyming form of the first:

    five-character:  ABCD (仄起), DBCD (仄起, first line rhymes), CDAB (平起), BDAB (平起, rhymes)

By default the first line of a five-character poem does not rhyme and that of a seven-character one
does, as in most Tang poems. `strict`: every position as its pattern. `loose` (一三五不论): the
first and third characters (and the fifth of seven) are free, except where freeing them would make
孤平 (a B line's only 平 before the rhyme) or three 平 or three 仄 at a line's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from charrnn.errors import CharRNNError
from charrnn.writers.rhyme_books import PING, ZE, check_book, ping_groups, tones

FIVE = {"A": "仄仄平平仄", "B": "平平仄仄平", "C": "平平平仄仄", "D": "仄仄仄平平"}
QUATRAINS = ("ABCD", "DBCD", "CDAB", "BDAB")
METERS = ("strict", "loose", "off")
OPENINGS = {"pingqi": PING, "zeqi": ZE}


def line_pattern(kind: str, chars: int) -> str:
    five = FIVE[kind]
    return five if chars == 5 else ("平平" if five[0] == ZE else "仄仄") + five


@dataclass(frozen=True)
class Pattern:
    lines: tuple[str, ...]  # each line's tones, e.g. ("仄仄平平仄", "平平仄仄平", ...)
    kinds: str  # each line's type, A-D

    @property
    def opening(self) -> str:
        return self.lines[0][1]

    @property
    def first_rhymes(self) -> bool:
        return self.lines[0][-1] == PING

    def rhyme_lines(self) -> list[int]:
        return [k for k, line in enumerate(self.lines) if line[-1] == PING]

    def wanted(self, line: int, col: int, meter: str) -> str | None:
        """The tone position (line, col) needs, or None when the meter leaves it free."""
        tone_line, n = self.lines[line], len(self.lines[line])
        if meter == "loose" and col in ((0, 2) if n == 5 else (0, 2, 4)) and col != n - 1:
            lone_ping = self.kinds[line] == "B" and col == n - 5  # 孤平: the B line's first 平 stays
            three_tail = col == n - 3 and tone_line[n - 2] == tone_line[n - 1]  # no 平平平 / 仄仄仄 end
            if not (lone_ping or three_tail):
                return None
        return tone_line[col]


def patterns(chars: int, lines: int) -> list[Pattern]:
    """The four patterns of a form (5 or 7 characters, 4 or 8 lines)."""
    found = []
    for quatrain in QUATRAINS:
        kinds = quatrain if lines == 4 else quatrain + QUATRAINS[0 if quatrain[1] == "B" else 2]
        found.append(Pattern(tuple(line_pattern(k, chars) for k in kinds), kinds))
    return found


def choose(chars: int, lines: int, opening: str, first_rhymes: bool | None = None) -> Pattern:
    """The pattern with this opening tone (平 or 仄); the first line rhymes by the form's custom."""
    rhymes = chars == 7 if first_rhymes is None else first_rhymes
    return next(p for p in patterns(chars, lines) if p.opening == opening and p.first_rhymes == rhymes)


@dataclass(frozen=True)
class Violation:
    line: int  # from 1
    position: int  # from 1; 0 for the whole poem
    char: str
    wanted: str
    found: str

    def __str__(self) -> str:
        where = f"line {self.line}, character {self.position}" if self.position else "the poem"
        return f"{where} {self.char!r}: wanted {self.wanted}, found {self.found}"


def check(lines: list[str], book: str, meter: str = "strict") -> list[Violation]:
    """Everything in a poem (its lines, marks stripped) that breaks its form, meter or rhyme: [] if none.
    The pattern is the one of the four that the poem breaks least."""
    n = len(lines[0]) if lines else 0
    if len(lines) not in (4, 8) or n not in (5, 7) or any(len(line) != n for line in lines):
        shape = "x".join(map(str, sorted({len(line) for line in lines}))) + f" characters, {len(lines)} lines"
        return [Violation(0, 0, "", "5 or 7 characters a line, 4 or 8 lines", shape)]
    return min((_check(lines, book, meter, p) for p in patterns(n, len(lines))), key=len)


def _check(lines: list[str], book: str, meter: str, pattern: Pattern) -> list[Violation]:
    found = []
    for k, line in enumerate(lines):
        for col, char in enumerate(line):
            wanted = pattern.wanted(k, col, meter)
            have = tones(book, char)
            if wanted is not None and wanted not in have:
                found.append(Violation(k + 1, col + 1, char, wanted, "/".join(sorted(have)) or "not in the book"))
    rhyme_chars = [lines[k][-1] for k in pattern.rhyme_lines()]
    shared = set.intersection(*(ping_groups(book, c) for c in rhyme_chars)) if rhyme_chars else set()
    if rhyme_chars and not shared:
        counts: dict[str, int] = {}
        for char in rhyme_chars:
            for group in ping_groups(book, char):
                counts[group] = counts.get(group, 0) + 1
        group = max(counts, key=counts.get) if counts else "a level-tone rhyme"
        for k in pattern.rhyme_lines():
            char = lines[k][-1]
            if group not in ping_groups(book, char):
                found.append(Violation(k + 1, len(lines[k]), char, f"rhyme {group}",
                                       "/".join(sorted(ping_groups(book, char))) or "no level-tone rhyme"))
    return found


MARKS = "，。？！；、,.?!;"


def split_poems(text: str) -> list[str]:
    """Poems one per line, or (when the text has blank lines) blocks of lines separated by them."""
    text = text.replace("\r\n", "\n")
    blocks = text.split("\n\n") if "\n\n" in text.strip("\n") else text.split("\n")
    return ["".join(block.split()) for block in blocks if block.strip()]


def verse_lines(poem: str) -> list[str]:
    """A poem's lines without their marks: 床前明月光，疑是地上霜。 -> [床前明月光, 疑是地上霜]."""
    return [line for line in re.split(f"[{MARKS}]", poem) if line]


def check_poems(text: str, book: str, meter: str = "strict") -> list[tuple[str, list[Violation]]]:
    """Each poem of `text` with what it breaks ([] when regular)."""
    if meter not in METERS[:2]:
        raise CharRNNError(f"--meter {meter!r}: a check is strict or loose")
    check_book(book)
    poems = split_poems(text)
    if not poems:
        raise CharRNNError("poem --check: no poem in the text (one a line, or separated by blank lines)")
    return [(poem, check(verse_lines(poem), book, meter)) for poem in poems]

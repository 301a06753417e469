"""Rhyme groups for `poem --rhyme`: the 十三辙 (thirteen rhyme classes) of Mandarin, read with pypinyin.

A character's rhyme is the final (韵母) of its most common reading, which pypinyin gives for a
character on its own (Style.FINALS, strict, so 鱼 yú -> v, 水 shuǐ -> uei), tone dropped. Finals that
differ only in their medial (i-, u-, ü-) rhyme in Mandarin verse, so the finals are grouped into the
thirteen classes of 十三辙, the rhyme scheme of Peking opera and folk song:

    发花 a ia ua         梭波 o e uo          乜斜 ie ve (üe)        一七 i v (ü) er, and -i of zhi/ci/...
    姑苏 u               怀来 ai uai          灰堆 ei uei (ui)       遥条 ao iao
    油求 ou iou (iu)     言前 an ian uan van  人辰 en in uen vn      江阳 ang iang uang
    中东 eng ing ueng ong iong

Tones are ignored (平仄 is not checked). This is modern pronunciation, not the Middle Chinese of the
平水韵 rhyme book that Tang poets wrote to: 斜 xié and 家 jiā rhymed then and do not here, so a Tang
poem may not rhyme by this measure, but a poem that does will rhyme when read aloud today.
A character without a Han reading (punctuation, Latin letters, 嗯 n) belongs to no group.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

GROUPS: dict[str, tuple[str, ...]] = {
    "发花": ("a", "ia", "ua"),
    "梭波": ("o", "e", "uo"),
    "乜斜": ("ie", "ve", "ê"),
    "一七": ("i", "v", "er"),
    "姑苏": ("u",),
    "怀来": ("ai", "uai"),
    "灰堆": ("ei", "uei"),
    "遥条": ("ao", "iao"),
    "油求": ("ou", "iou"),
    "言前": ("an", "ian", "uan", "van"),
    "人辰": ("en", "in", "uen", "vn"),
    "江阳": ("ang", "iang", "uang"),
    "中东": ("eng", "ing", "ueng", "ong", "iong"),
}
GROUP_OF_FINAL = {final: group for group, finals in GROUPS.items() for final in finals}


@lru_cache(maxsize=None)
def final_of(char: str) -> str:
    """The pinyin final of the character's most common reading, without tone ("" when it has none)."""
    from pypinyin import Style, lazy_pinyin

    finals = lazy_pinyin(char, style=Style.FINALS, strict=True, errors="ignore")
    return finals[0] if finals else ""


def rhyme_group(char: str) -> str | None:
    """The 十三辙 class of `char` (e.g. 光 -> 江阳), or None."""
    return GROUP_OF_FINAL.get(final_of(char))


def rhyme_groups(chars: Iterable[str]) -> dict[str, list[str]]:
    """The characters of each rhyme group that occurs among `chars`."""
    groups: dict[str, list[str]] = {}
    for char in chars:
        group = rhyme_group(char)
        if group is not None:
            groups.setdefault(group, []).append(char)
    return groups

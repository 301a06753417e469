"""The catalog of named datasets: each one's public sources at pinned commits, how its text is
prepared from them (following shared/corpora/README.md exactly, so the sha256 matches), its
checksum and its default mode; `get_dataset(name)` looks one up. Finding and downloading their
text is downloads.py.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from charrnn.errors import CharRNNError

_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str  # one line, for --help and the README
    mirror_path: str  # relative to a mirror folder ($CHARRNN_DATA); "" for python-stdlib
    sha256: str | None  # of the prepared file; None where there is no single file
    default_mode: str  # "stream" (one long text) or "lines" (one example per line)
    sources: tuple[str, ...]  # public URLs at pinned commits
    prepare: Callable[[list[bytes]], str] | None  # sources -> final text; None: the one source as is
    license: str
    size: int | None = None  # bytes of the prepared file: a cheap check of mirror and cache copies
    parts: tuple[str, ...] = ()  # a dataset made of others (their files, in this order)


# --- preparation: each follows shared/corpora/README.md exactly, so the sha256 matches ---------


def prepare_nietzsche(sources: list[bytes]) -> str:
    """Undo the double UTF-8 encoding: the source shows `ä` as `Ã¤`.

    Each of those characters is the UTF-8 bytes of the real letter read back as Latin-1, so
    encoding the text as Latin-1 gives the original UTF-8 bytes again. Pure ASCII is unchanged.
    """
    (raw,) = sources
    return raw.decode("utf-8").encode("latin-1").decode("utf-8")


def prepare_names(sources: list[bytes]) -> str:
    """A `、`-separated list (over several lines) -> one name per line, in first-seen order."""
    (raw,) = sources
    names: list[str] = []
    seen: set[str] = set()
    for line in raw.decode("utf-8-sig").splitlines():
        for name in line.split("、"):
            name = name.strip()
            if name and name not in seen:
                seen.add(name)
                names.append(name)
    return "".join(name + "\n" for name in names)


def prepare_dart_names(sources: list[bytes]) -> str:
    """Dart source files holding lists of quoted names ('楚留香',) -> each name once, one a line,
    in first-seen order over the files as given (their paths' sorted order)."""
    names: list[str] = []
    seen: set[str] = set()
    for name in re.findall(r"'([^'\n]+)'", "".join(raw.decode("utf-8") for raw in sources)):
        name = name.strip()
        if name and name not in seen:
            seen.add(name)
            names.append(name)
    return "".join(name + "\n" for name in names)


def prepare_lf(sources: list[bytes]) -> str:
    """The one source as it is, with CRLF and CR line ends made LF."""
    (raw,) = sources
    return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


# Han ideographs: the URO, extension A, the compatibility block and the supplementary planes
# (extensions B..G). The Tang file uses extension A/B characters, so the URO alone is not enough.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_POEM_CHARS = re.compile(f"[{_HAN}，。]+")
TANG_POEMS_KEPT = 40_000


def is_regular_poem(body: str) -> bool:
    """五言 or 七言 with only Han characters and `，`/`。`, ending in `。`, at least two lines."""
    if not _POEM_CHARS.fullmatch(body) or not body.endswith("。"):
        return False
    lines = re.split("[，。]", body[:-1])  # the final `。` would only add an empty piece
    lengths = {len(line) for line in lines}
    return len(lines) >= 2 and (lengths == {5} or lengths == {7})


def prepare_tang_poems(sources: list[bytes]) -> str:
    """chinese-poetry JSON files, in order -> one poem body per line, first 40,000 regular ones."""
    poems: list[str] = []
    seen: set[str] = set()
    for raw in sources:
        for poem in json.loads(raw.decode("utf-8")):
            body = "".join(poem.get("paragraphs", []))  # title and author are dropped
            if body not in seen and is_regular_poem(body):
                seen.add(body)
                poems.append(body)
    return "".join(poem + "\n" for poem in poems[:TANG_POEMS_KEPT])


# --- the registry -------------------------------------------------------------------------------

_TANG_COMMIT = "67c4aa745a92b7863cbca88012536ae4960e7e2f"
_TANG_SOURCES = tuple(
    f"{_RAW}/Provinm/chinese-poetry-simplified/{_TANG_COMMIT}/chinese-poetry/json/poet.tang.{start}.json"
    for start in range(0, 58_000, 1000)
)

# hylxsfh/random_chinese_name: one Dart file of names per novel, in lib/src/<author>/ (sorted here)
_WUXIA = f"{_RAW}/hylxsfh/random_chinese_name/a4c575462acf4028b9fabe0fb6bd44e1e693915b/lib/src"
_JINYONG_NOVELS = ("bai_ma_xiao_xi_feng bi_xue_jian fei_hu_wai_zhuan lian_cheng_jue lu_ding_ji "
                   "she_diao_ying_xiong_zhuan shen_diao_xia_lv shu_jian_en_chou_lu tian_long_ba_bu xia_ke_xing "
                   "xiao_ao_jiang_hu xue_shan_fei_hu yi_tian_tu_long_ji yuan_yang_dao").split()
_GULONG_NOVELS = ("bai_yu_lao_hu bi_xue_xi_yen_qiang chu_liu_xiang da_di_fei_ying da_qi_ying_xong_zhuan "
                  "duo_qing_jian_ke_wu_qing_jian hu_die_liu_xing_jian huan_le_ying_xong jue_dai_shuang_jiao "
                  "ming_jian_feng_liu wan_hua_xi_jian_lu wu_lin_wai_shi xiao_shi_yi_lang yuan_yue_wan_dao").split()
_WUXIA_LICENSE = "MIT (hylxsfh/random_chinese_name); names from novels still under copyright"

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="tinyshakespeare",
            description="Karpathy's tiny Shakespeare: 1.1 MB of plays, the classic char-RNN corpus",
            mirror_path="tinyshakespeare/input.txt",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            default_mode="stream",
            sources=(
                f"{_RAW}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
                "/data/tinyshakespeare/input.txt",
            ),
            prepare=None,
            license="public domain text (Shakespeare); karpathy/char-rnn is MIT",
            size=1_115_394,
        ),
        Dataset(
            name="tang-poems",
            description="40,000 regular Tang poems (五言/七言), simplified Chinese, one poem per line",
            mirror_path="tang-poems/poems.txt",
            sha256="f82e4fa8d5b227c92e67d4c0e13cd1b13afb785b79f2d3b7d84e96c89549bc8b",
            default_mode="lines",
            sources=_TANG_SOURCES,
            prepare=prepare_tang_poems,
            license="public domain poems; chinese-poetry digitisation MIT (c) 2016 JackeyGao",
            size=7_221_898,
        ),
        Dataset(
            name="dinosaurs",
            description="1,536 dinosaur genus names, one per line (deeplearning.ai 'Dinosaurus Island')",
            mirror_path="dinosaurs/dinos.txt",
            sha256="ad6465621cf56c08f71d4fbb40cf7eab763f9df42c54cc460d6c4d86e9c927fb",
            default_mode="lines",
            sources=(
                f"{_RAW}/prateekb1912/dinosaur-island/881521cb5431586bb513e9eddc92a8915c52a884/dinos.txt",
            ),
            prepare=None,
            license="none stated (course material; a list of genus names, factual data)",
            size=19_909,
        ),
        Dataset(
            name="nietzsche",
            description="Nietzsche in English (Beyond Good and Evil + part of Human, All Too Human), 600 KB",
            mirror_path="nietzsche/nietzsche.txt",
            sha256="23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647",
            default_mode="stream",
            sources=(
                f"{_RAW}/rupeshbharambe24/DL-Practical/e8ec7def4934423cda1d6a8cf9bb665ea4a2ca9c/nietzsche.txt",
            ),
            prepare=prepare_nietzsche,
            license="public domain (Zimmern 1907 and Harvey 1908 translations; Project Gutenberg)",
            size=600_901,
        ),
        Dataset(
            name="jinyong-names",
            description="1,372 character names from Jin Yong's 14 novels, one per line",
            mirror_path="wuxia-names/jinyong.txt",
            sha256="818a95e453dd70aa3688ec395aa4dafe5e0f36589baaa61c2851276464a50b55",
            default_mode="lines",
            sources=tuple(f"{_WUXIA}/jinyong/{novel}.dart" for novel in _JINYONG_NOVELS),
            prepare=prepare_dart_names,
            license=_WUXIA_LICENSE,
            size=13_045,
        ),
        Dataset(
            name="gulong-names",
            description="1,058 character names from Gu Long's 14 novels, one per line",
            mirror_path="wuxia-names/gulong.txt",
            sha256="6c80a0eb5d322e7e0c328e6a929ed8e5b09f6b506720c93bb8f1bb46aa6a8cde",
            default_mode="lines",
            sources=tuple(f"{_WUXIA}/gulong/{novel}.dart" for novel in _GULONG_NOVELS),
            prepare=prepare_dart_names,
            license=_WUXIA_LICENSE,
            size=9_917,
        ),
        Dataset(
            name="wuxia-names",
            description="Jin Yong's and Gu Long's names, 2,430 lines (jinyong-names, then gulong-names)",
            mirror_path="",
            sha256=None,
            default_mode="lines",
            sources=(),
            prepare=None,
            license=_WUXIA_LICENSE,
            parts=("jinyong-names", "gulong-names"),
        ),
        Dataset(
            name="sonnets",
            description="Shakespeare's sonnets without their numbers (the deep-learning course's poem file)",
            mirror_path="sonnets/sonnets.txt",
            sha256="aef751752615e98ba84317435d2577e7ac364da40080c5464217b4f505c3d436",
            default_mode="stream",
            sources=(f"{_RAW}/RadouaneK/Character-level-language-model---Sakespeare-poems-/"
                     "6783f8996f57b166bd7bc5e77b59243f905a569a/shakespeare.txt",),
            prepare=prepare_lf,
            license="public domain (the text); the repository states no licence",
            size=94_212,
        ),
        Dataset(
            name="tianlongbabu-names",
            description="226 character names from Jin Yong's 天龙八部 (the list jinyong-names was before)",
            mirror_path="wuxia-names/jinyong_tianlongbabu.txt",
            sha256="527879ac72de51b66f99ba728f0af8b2cb35736e428af7e139541a89cb4b32da",
            default_mode="lines",
            sources=(
                f"{_RAW}/hustqb/PythonWork/7e7fe2dab3407290bbb4f56145eb2d34b293c1ac"
                "/dailycoding/TextStatistics/tlbb_characters.txt",
            ),
            prepare=prepare_names,
            license="none stated; names from a novel still under copyright (check before redistributing)",
            size=2_164,
        ),
        Dataset(
            name="python-stdlib",
            description="the top-level *.py files of this Python's standard library (offline, no download)",
            mirror_path="",
            sha256=None,
            default_mode="stream",
            sources=(),
            prepare=None,
            license="PSF License (the Python standard library)",
        ),
    )
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> Dataset:
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise CharRNNError(f"unknown dataset {name!r}: {hint}known datasets: {', '.join(DATASETS)}")

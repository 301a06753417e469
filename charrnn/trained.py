"""A trained run, ready to write and score text: `charrnn.load(run) -> TrainedModel`.

    model = charrnn.load("runs/tinyshakespeare")
    model.generate("ROMEO:", length=200, temperature=0.8)   # -> the continuation (a str)
    for ch in model.stream("ROMEO:", length=200): ...       # characters as they are made
    model.samples("ROMEO:", temperature=[0.5, 1.0])         # -> [Sample(text, logprobs, temperature)]
    model.generate("ROMEO:", length=100, beam=8)            # the likeliest continuation beam search finds
    model.poem("wujue", acrostic="春夏秋冬", rhyme=True)      # a run trained on tang-poems
    model.names(num=20, new_only=True)                      # a lines-mode run trained on names
    model.evaluate(open("play.txt").read())                 # -> {"loss_nats", "bpc", "perplexity", "chars"}

The CLI's `sample`, `poem`, `names` and `eval` and the training loop's eval samples all go through
here; the decoders themselves are in charrnn.decoding, the writers' forms in charrnn.writers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from charrnn import checkpoint
from charrnn.common import pick_device
from charrnn.decoding import Constraint, Sample, beam_search, collect, sample_ids
from charrnn.errors import CharRNNError, warn
from charrnn.evaluate import score
from charrnn.model import CharRNN
from charrnn.sampling import SamplingOptions
from charrnn.vocab import EOS, Vocabulary


def _random_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(_random_seed() if seed is None else seed)


def decode_steps(model: CharRNN, vocab: Vocabulary, mode: str, prime: str, length: int,
                 options: SamplingOptions, generator: torch.Generator, num: int = 1,
                 constraint: Constraint | None = None) -> Iterator[list[str]]:
    """Yield, once per step, the next character of each of `num` samples ("" once a sample has ended).

    The prime is read in one forward call; then one character at a time is sampled and fed back
    (charrnn.decoding.sample_ids). Lines-mode runs start from <bos> and end a sample at <eos>.
    """
    for ids, _ in sample_ids(model, vocab, mode, prime, length, options, generator, num, constraint):
        yield ["" if i is None or i == EOS else vocab.decode([i]) for i in ids]


def temperatures(temperature: float | Sequence[float]) -> list[float]:
    """One temperature or several (a list, or the CLI's "0.2,0.5,1.0" already split)."""
    values = [temperature] if isinstance(temperature, (int, float)) else list(temperature)
    if not values:
        raise CharRNNError("--temperature: give at least one value")
    return [float(t) for t in values]


class TrainedModel:
    def __init__(self, model: CharRNN, vocab: Vocabulary, info: checkpoint.RunInfo, run_dir: Path | None,
                 device: torch.device) -> None:
        self.model, self.vocab, self.info, self.run_dir, self.device = model, vocab, info, run_dir, device

    @property
    def mode(self) -> str:
        return self.info.mode

    @staticmethod
    def _check_lengths(length: int, num: int) -> None:
        if length < 0:
            raise CharRNNError(f"--length must be >= 0 (got {length})")
        if num <= 0:
            raise CharRNNError(f"--num must be > 0 (got {num})")

    def _check_prime(self, prime: str) -> None:
        unknown = self.vocab.unknown(prime)
        if self.mode == "lines":
            unknown.pop("\n", None)
        if unknown:
            shown = "".join(sorted(unknown))[:20]
            warn(f"{sum(unknown.values())} prime character(s) not in the vocabulary ({shown!r}) are read as <unk>")

    def stream(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int | None = None, stop: str | None = None, repetition_penalty: float = 1.0,
               repetition_window: int = 32, no_repeat_ngram: int = 0) -> Iterator[str]:
        """The continuation of `prime`, a character at a time (ends at `stop`, which is not yielded)."""
        options = SamplingOptions(temperature, top_k, top_p, repetition_penalty, repetition_window, no_repeat_ngram)
        yield from self._stream_many(prime, length, options, seed, 1, stop, 0)

    def generate(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None, num: int | None = None,
                 stop: str | None = None, repetition_penalty: float = 1.0, repetition_window: int = 32,
                 no_repeat_ngram: int = 0, beam: int = 0) -> str | list[str]:
        """The continuation of `prime` (a str), or a list of `num` of them sampled as one batch.
        `beam` > 0: the likeliest continuation beam search finds (temperature and top-k/p unused)."""
        if beam:
            samples = self.samples(prime, length, num or 1, temperature, top_k, top_p, repetition_penalty,
                                   repetition_window, no_repeat_ngram, beam, seed, stop)
            return [s.text for s in samples] if num is not None else samples[0].text
        count = 1 if num is None else num
        texts = ["" for _ in range(max(count, 0))]
        options = SamplingOptions(temperature, top_k, top_p, repetition_penalty, repetition_window, no_repeat_ngram)
        for index, piece in self._pieces(prime, length, options, seed, count, stop):
            texts[index] += piece
        return texts if num is not None else texts[0]

    def samples(self, prime: str = "", length: int = 500, num: int = 1,
                temperature: float | Sequence[float] = 1.0, top_k: int = 0, top_p: float = 1.0,
                repetition_penalty: float = 1.0, repetition_window: int = 32, no_repeat_ngram: int = 0,
                beam: int = 0, seed: int | None = None, stop: str | None = None,
                constraint: Constraint | None = None) -> list[Sample]:
        """`num` samples for each temperature (in order), each with the model's log-probability of
        every written character (and of <eos> when it ended there). The generator is seeded afresh
        for each temperature, so a value gives the same samples alone or in a list.

        `beam` > 0: one Sample, the likeliest continuation that `beam` hypotheses find (never less
        likely than greedy decoding); the temperature, top-k and top-p are then not used.
        `constraint`: a writer's form (charrnn.decoding.Constraint), as poems and names use."""
        values = temperatures(temperature)
        options = [SamplingOptions(t, top_k, top_p, repetition_penalty, repetition_window, no_repeat_ngram)
                   for t in values]
        self._check_lengths(length, num)
        self._check_prime(prime)
        if beam < 0:
            raise CharRNNError(f"--beam must be >= 0 (got {beam})")
        if beam:
            if num != 1:
                raise CharRNNError(f"--beam finds the one likeliest continuation: use --num 1 (got {num})")
            if len(values) > 1:
                raise CharRNNError("--beam does not sample, so several temperatures make no sense: give one")
            found = [beam_search(self.model, self.vocab, self.mode, prime, length, beam, options[0], constraint)]
        else:
            found = []
            for opts in options:
                steps = sample_ids(self.model, self.vocab, self.mode, prime, length, opts,
                                   make_generator(self.device, seed), num, constraint)
                found += collect(self.vocab, steps, num, opts.temperature)
        return [_cut_at(s, stop) for s in found] if stop else found

    def poem(self, form: str | None = None, *, chars_per_line: int | None = None, lines: int | None = None,
             acrostic: str | None = None, rhyme: bool = False, num: int | None = None,
             **decoding) -> str | list[str]:
        """A regular Chinese poem (a str), or a list of `num`: `form` wujue, qijue, wulv or qilv, or
        any `chars_per_line` x `lines`; `acrostic` gives each line's first character; `rhyme` makes the
        even lines rhyme. `decoding`: the options of `samples` (temperature, top_k, ..., beam, seed).
        See charrnn.writers.poems."""
        from charrnn.writers.poems import PoemForm, write_poems

        shape = PoemForm.from_options(form, chars_per_line, lines, acrostic, rhyme)
        texts = [s.text for s in write_poems(self, shape, num or 1, **decoding)]
        return texts if num is not None else texts[0]

    def names(self, num: int = 20, *, new_only: bool = False, min_len: int = 1, max_len: int | None = None,
              starts_with: str = "", **decoding) -> list[str]:
        """`num` names (one sample each, to <eos>) from a lines-mode run; `new_only` drops names of
        the training set and duplicates. `decoding`: temperature, top_k, top_p, repetition options,
        seed. See charrnn.writers.names."""
        from charrnn.writers.names import NameRules, write_names

        rules = NameRules(min_len, max_len, starts_with)
        return [n.name for n in write_names(self, num, rules, new_only=new_only, **decoding).names]

    def _stream_many(self, prime, length, options, seed, num, stop, index) -> Iterator[str]:
        for i, piece in self._pieces(prime, length, options, seed, num, stop):
            if i == index:
                yield piece

    def _pieces(self, prime: str, length: int, options: SamplingOptions, seed: int | None, num: int,
                stop: str | None) -> Iterator[tuple[int, str]]:
        """(sample index, text) pieces in order; text is held back only while it may begin `stop`."""
        self._check_lengths(length, num)
        if stop == "":
            stop = None
        self._check_prime(prime)
        generator = make_generator(self.device, seed)
        pending = ["" for _ in range(num)]  # text not yet released, in case it is the start of `stop`
        stopped = [False] * num
        for step in decode_steps(self.model, self.vocab, self.mode, prime, length, options, generator, num):
            for i, ch in enumerate(step):
                if stopped[i] or not ch:
                    continue
                pending[i] += ch
                if stop is None:
                    yield i, pending[i]
                    pending[i] = ""
                elif stop in pending[i]:
                    head = pending[i][: pending[i].index(stop)]
                    if head:
                        yield i, head
                    pending[i], stopped[i] = "", True
                else:
                    keep = _longest_prefix_suffix(pending[i], stop)
                    if len(pending[i]) > keep:
                        yield i, pending[i][: len(pending[i]) - keep]
                        pending[i] = pending[i][len(pending[i]) - keep:]
            if all(stopped):
                return
        for i, rest in enumerate(pending):
            if rest and not stopped[i]:
                yield i, rest

    def evaluate(self, text: str, exact: bool = False) -> dict:
        """Loss of `text` under the model: {"loss_nats", "bpc", "perplexity", "chars"}."""
        from charrnn.corpus import encode_text

        ids, unknown = encode_text(text, self.vocab, self.mode)
        if unknown:
            warn(f"{unknown} character(s) of the text are not in the vocabulary and are scored as <unk>")
        if len(ids) < 2:
            raise CharRNNError("the text to evaluate is empty or a single character")
        return score(self.model, ids, self.mode, self.device, exact=exact)


def _cut_at(sample: Sample, stop: str) -> Sample:
    """The sample up to the first `stop` (one log-probability per kept character, no <eos>)."""
    if stop not in sample.text:
        return sample
    text = sample.text[: sample.text.index(stop)]
    return Sample(text, sample.logprobs[: len(text)], sample.temperature, ended=True)


def _longest_prefix_suffix(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `stop`."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


def load(run_dir: str | Path, device: str = "auto", which: str = "best") -> TrainedModel:
    """Open a run folder: its config, vocabulary and `best` (or `last`) weights."""
    run_dir = Path(run_dir)
    info, vocab = checkpoint.read_run(run_dir)
    tensors, _ = checkpoint.load_tensors(checkpoint.weights_file(run_dir, which))
    dev = pick_device(device)
    model = CharRNN(info.model)
    try:
        model.load_state_dict(tensors)
    except RuntimeError:
        raise CharRNNError(f"{run_dir}: the weights do not match the model in config.json") from None
    model.to(dev).eval()
    return TrainedModel(model, vocab, info, run_dir, dev)

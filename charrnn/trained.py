"""A trained run, ready to write and score text: `charrnn.load(run) -> TrainedModel`.

    model = charrnn.load("runs/tinyshakespeare")
    model.generate("ROMEO:", length=200, temperature=0.8)   # -> the continuation (a str)
    for ch in model.stream("ROMEO:", length=200): ...       # characters as they are made
    model.samples("ROMEO:", temperature=[0.5, 1.0])         # -> [Sample(text, logprobs, temperature)]
    model.generate("ROMEO:", length=100, beam=8)            # the likeliest continuation beam search finds
    model.poem("wujue", acrostic="春夏秋冬", rhyme=True)      # a run trained on tang-poems
    model.names(num=20, new_only=True)                      # a lines-mode run trained on names
    model.evaluate(open("play.txt").read())                 # -> {"loss_nats", "bpc", "perplexity", "chars"}
    model.inspect("ROMEO: What?")                           # -> Inspection: surprisal, guesses, activations
    model.neurons()                                         # -> [Finding(unit, feature, r)]: units that track things

The facade over charrnn.generation (the decoders, the step loop, scoring) and charrnn.writers (the
forms). Decoding options are a charrnn.SamplingOptions, given whole (`options=`) or as keyword
overrides of its fields (`top_k=40`); its defaults are the only ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from charrnn import checkpoint
from charrnn.data.corpus import encode_text, load_corpus, source_files
from charrnn.device import pick_device
from charrnn.errors import CharRNNError, warn
from charrnn.generation.decoding import Constraint, Sample, beam_search, collect, sample_ids
from charrnn.generation.inspection import Inspection, Unit, inspect_text
from charrnn.generation.neurons import Finding, find_neurons
from charrnn.generation.options import SamplingOptions, sampling_options
from charrnn.generation.scoring import score
from charrnn.generation.streaming import (Transcript, cut_sample, make_generator, prime_warning, stop_list,
                                          temperatures, text_steps, written_pieces)
from charrnn.model import CharRNN
from charrnn.vocab import Vocabulary
from charrnn.writers.names import NameRules, write_names
from charrnn.writers.poems import PoemForm, write_poems

NEURON_CHARS = 10_000  # the neuron finder's default text: this much of the validation split


class TrainedModel:
    def __init__(self, model: CharRNN, vocab: Vocabulary, info: checkpoint.RunInfo, run_dir: Path | None,
                 device: torch.device) -> None:
        self.model, self.vocab, self.info, self.run_dir, self.device = model, vocab, info, run_dir, device

    @property
    def mode(self) -> str:
        return self.info.mode

    def stream(self, prime: str = "", length: int = 500, temperature: float | None = None, *,
               seed: int | None = None, stop: str | Sequence[str] | None = None,
               options: SamplingOptions | None = None, **sampling) -> Iterator[str]:
        """The continuation of `prime`, a piece at a time (ends at `stop`, which is not yielded)."""
        options = self._options(options, temperature, sampling)
        for _, piece in self._pieces(prime, length, options, seed, 1, stop):
            yield piece

    def generate(self, prime: str = "", length: int = 500, temperature: float | None = None, *,
                 seed: int | None = None, num: int | None = None, stop: str | Sequence[str] | None = None,
                 beam: int = 0, options: SamplingOptions | None = None, **sampling) -> str | list[str]:
        """The continuation of `prime` (a str), or a list of `num` of them sampled as one batch.
        `beam` > 0: the likeliest continuation beam search finds (temperature and top-k/p unused)."""
        options = self._options(options, temperature, sampling)
        if beam:
            samples = self.samples(prime, length, num or 1, options.temperature, beam=beam, seed=seed, stop=stop,
                                   options=options)
            return [s.text for s in samples] if num is not None else samples[0].text
        count = 1 if num is None else num
        transcript = Transcript(max(count, 0), stop_list(stop))
        for _ in self._pieces(prime, length, options, seed, count, stop, transcript):
            pass
        return transcript.texts if num is not None else transcript.texts[0]

    def samples(self, prime: str = "", length: int = 500, num: int = 1,
                temperature: float | Sequence[float] | None = None, *, beam: int = 0, seed: int | None = None,
                stop: str | Sequence[str] | None = None, constraint: Constraint | None = None,
                options: SamplingOptions | None = None, **sampling) -> list[Sample]:
        """`num` samples for each temperature (in order), each with the model's log-probability of
        every written character (and of <eos> when it ended there). The generator is seeded afresh
        for each temperature, so a value gives the same samples alone or in a list.

        `beam` > 0: one Sample, the likeliest continuation that `beam` hypotheses find (never less
        likely than greedy decoding); the temperature, top-k and top-p are then not used.
        `constraint`: a writer's form (charrnn.generation.decoding.Constraint), as poems and names use."""
        base = sampling_options(options, **sampling)
        values = temperatures(base.temperature if temperature is None else temperature)
        per_temperature = [sampling_options(base, temperature=t) for t in values]
        self._check(prime, length, num)
        if beam < 0:
            raise CharRNNError(f"--beam must be >= 0 (got {beam})")
        if beam:
            if num != 1:
                raise CharRNNError(f"--beam finds the one likeliest continuation: use --num 1 (got {num})")
            if len(values) > 1:
                raise CharRNNError("--beam does not sample, so several temperatures make no sense: give one")
            found = [beam_search(self.model, self.vocab, self.mode, prime, length, beam, base, constraint)]
        else:
            found = []
            for opts in per_temperature:
                steps = sample_ids(self.model, self.vocab, self.mode, prime, length, opts,
                                   make_generator(self.device, seed), num, constraint)
                found += collect(self.vocab, steps, num, opts.temperature)
        stops = stop_list(stop)
        return [cut_sample(s, stops) for s in found] if stops else found

    def poem(self, form: str | None = None, *, chars_per_line: int | None = None, lines: int | None = None,
             acrostic: str | None = None, rhyme: bool = False, meter: str = "off", rhyme_book: str = "pingshui",
             pattern: str | None = None, keywords: str | Sequence[str] | None = None, num: int | None = None,
             **decoding) -> str | list[str]:
        """A regular Chinese poem (a str), or a list of `num`: `form` wujue, qijue, wulv or qilv, or
        any `chars_per_line` x `lines`; `acrostic` gives each line's first character; `rhyme` makes the
        even lines rhyme; `meter` strict or loose makes it regulated verse (tones and rhymes of
        `rhyme_book`; `pattern` pingqi or zeqi); `keywords` ("月,江") each appear in every poem.
        `decoding`: the options of `samples` (temperature,
        top_k, ..., beam, seed). See charrnn.writers.poems and charrnn.writers.verse."""
        shape = PoemForm.from_options(form, chars_per_line, lines, acrostic, rhyme, meter, rhyme_book, pattern,
                                      keywords)
        texts = [s.text for s in write_poems(self, shape, num or 1, **decoding)]
        return texts if num is not None else texts[0]

    def names(self, num: int = 20, *, new_only: bool = False, min_len: int = 1, max_len: int | None = None,
              starts_with: str = "", **decoding) -> list[str]:
        """`num` names (one sample each, to <eos>) from a lines-mode run; `new_only` drops names of
        the training set and duplicates. `decoding`: temperature, top_k, top_p, repetition options,
        seed. See charrnn.writers.names."""
        rules = NameRules(min_len, max_len, starts_with)
        return [n.name for n in write_names(self, num, rules, new_only=new_only, **decoding).names]

    def inspect(self, text: str, top_k: int = 5, units: str | Sequence[Unit | str] | None = "all") -> Inspection:
        """For each character of `text`: its surprisal, the entropy and top guesses of the prediction
        that scored it, and every unit's activation after reading it (`units`: "all", a list of units
        such as "1:42" or "0:7:c", or None for none). See charrnn.generation.inspection."""
        keep = "all" if units == "all" else [u if isinstance(u, Unit) else Unit.parse(u) for u in units or ()]
        return inspect_text(self.model, self.vocab, self.mode, text, top_k, keep)

    def neurons(self, text: str | None = None, top: int = 10, max_chars: int = NEURON_CHARS) -> list[Finding]:
        """The units that track a simple feature of `text` (default: the first `max_chars` characters of
        the run's validation text), strongest first. See charrnn.generation.neurons."""
        if top < 1:
            raise CharRNNError(f"--top must be >= 1 (got {top})")
        text = self.validation_text(max_chars) if text is None else text
        return find_neurons(self.inspect(text), top)

    def validation_text(self, max_chars: int = NEURON_CHARS) -> str:
        """The start of the validation split the run was evaluated on (read again from its corpus)."""
        train = self.info.train
        try:
            files, name, _ = source_files(train.get("dataset"), train.get("inputs") or [], train.get("glob", "*"))
            corpus = load_corpus(files, self.mode, encoding=train.get("encoding", "utf-8"), vocab=self.vocab,
                                 val_frac=train.get("val_frac", 0.1), name=name)
        except CharRNNError as e:
            raise CharRNNError(f"the run's corpus cannot be read again ({e}): give a text instead") from None
        if len(corpus.val) == 0:
            raise CharRNNError(f"{self.run_dir or 'this run'} has no validation split: give a text instead")
        return self.vocab.as_text(corpus.val[:max_chars])

    def evaluate(self, text: str, exact: bool = False) -> dict:
        """Loss of `text` under the model: {"loss_nats", "bpc", "perplexity", "chars"}."""
        ids, unknown = encode_text(text, self.vocab, self.mode)
        if unknown:
            warn(f"{unknown} character(s) of the text are not in the vocabulary and are scored as <unk>")
        if len(ids) < 2:
            raise CharRNNError("the text to evaluate is empty or a single character")
        return score(self.model, ids, self.mode, self.device, exact=exact)

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _options(options: SamplingOptions | None, temperature: float | None, sampling: dict) -> SamplingOptions:
        return sampling_options(options, **sampling, **({} if temperature is None else {"temperature": temperature}))

    def _check(self, prime: str, length: int, num: int) -> None:
        if length < 0:
            raise CharRNNError(f"--length must be >= 0 (got {length})")
        if num <= 0:
            raise CharRNNError(f"--num must be > 0 (got {num})")
        message = prime_warning(self.vocab, self.mode, prime)
        if message:
            warn(message)

    def _pieces(self, prime: str, length: int, options: SamplingOptions, seed: int | None, num: int,
                stop: str | Sequence[str] | None, transcript: Transcript | None = None) -> Iterator[tuple[int, str]]:
        """(sample index, text) pieces in order; text is held back only while it may begin a stop string."""
        self._check(prime, length, num)
        transcript = transcript or Transcript(num, stop_list(stop))
        steps = text_steps(self.model, self.vocab, self.mode, prime, length, options, seed, num)
        yield from written_pieces(steps, transcript)


def load(run_dir: str | Path, device: str = "auto", which: str = "best") -> TrainedModel:
    """Open a run folder: its config, vocabulary and `best` (or `last`) weights."""
    run_dir = Path(run_dir)
    info, vocab = checkpoint.read_run(run_dir)
    weights = checkpoint.weights_file(run_dir, which)
    tensors, _ = checkpoint.load_tensors(weights)
    dev = pick_device(device)
    model = CharRNN(info.model)
    checkpoint.load_weights(model, tensors, weights)
    model.to(dev).eval()
    return TrainedModel(model, vocab, info, run_dir, dev)

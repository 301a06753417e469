"""A trained run, ready to write and score text: `charrnn.load(run) -> TrainedModel`.

    model = charrnn.load("runs/tinyshakespeare")
    model.generate("ROMEO:", length=200, temperature=0.8)   # -> the continuation (a str)
    for ch in model.stream("ROMEO:", length=200): ...       # characters as they are made
    model.samples("ROMEO:", temperature=[0.5, 1.0])         # -> [Sample(text, logprobs, temperature)]
    model.generate("ROMEO:", length=100, beam=8)            # the likeliest continuation beam search finds
    model.poem("wujue", acrostic="春夏秋冬", rhyme=True)      # a run trained on tang-poems
    model.poem_samples(PoemForm.from_options("qijue"), num=3)  # -> [Sample]: each poem's logprob and temperature
    model.names(num=20, new_only=True)                      # a lines-mode run trained on names
    model.name_samples(num=20, new_only=True)               # -> NamesResult: each name's logprob, what was dropped
    model.evaluate(open("play.txt").read())                 # -> {"loss_nats", "bpc", "perplexity", "chars"}
    model.inspect("ROMEO: What?")                           # -> Inspection: surprisal, guesses, activations
    model.neurons()                                         # -> [Finding(unit, feature, r)]: units that track things
    model.neuron_report()                                   # -> NeuronReport: those, and the best unit per feature
    model.network                                           # -> Network(model, vocab, mode): for charrnn.generation

The facade: it opens a run folder and composes charrnn.generation (the decoders, the step loop,
scoring), charrnn.writers (the forms) and charrnn.inside (inspection, the neuron finder), each of
which takes the run's Network and nothing of this class; what they need of the run folder (its
training names, its validation text) the facade reads and hands them. Decoding options are a charrnn.SamplingOptions, given whole (`options=`) or as keyword
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
from charrnn.generation.decoding import Constraint, Sample
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions, sampling_options
from charrnn.generation.samples import Plan, run_plan, stream_pieces, write_samples
from charrnn.generation.scoring import score
from charrnn.generation.streaming import Transcript, stop_list
from charrnn.inside.inspection import Inspection, Unit, inspect_text
from charrnn.inside.neurons import Finding, NeuronReport, report_neurons
from charrnn.model import CharRNN
from charrnn.vocab import Vocabulary
from charrnn.writers.names import NameRules, NamesResult, names_plan
from charrnn.writers.poem_form import PoemForm
from charrnn.writers.poems import poem_plan

NEURON_CHARS = 10_000  # the neuron finder's default text: this much of the validation split


class TrainedModel:
    def __init__(self, network: Network, info: checkpoint.RunInfo, run_dir: Path | None) -> None:
        self.network, self.info, self.run_dir = network, info, run_dir

    @property
    def vocab(self) -> Vocabulary:
        return self.network.vocab

    @property
    def mode(self) -> str:
        return self.network.mode

    @property
    def device(self) -> torch.device:
        return self.network.device

    def stream(self, prime: str = "", length: int = 500, temperature: float | None = None, *,
               seed: int | None = None, stop: str | Sequence[str] | None = None,
               options: SamplingOptions | None = None, **sampling) -> Iterator[str]:
        """The continuation of `prime`, a piece at a time (ends at `stop`, which is not yielded)."""
        options = self._options(options, temperature, sampling)
        for _, piece in stream_pieces(self.network, prime, length, options, seed, 1, stop):
            yield piece

    def generate(self, prime: str = "", length: int = 500, temperature: float | None = None, *,
                 seed: int | None = None, num: int | None = None, stop: str | Sequence[str] | None = None,
                 beam: int = 0, options: SamplingOptions | None = None, **sampling) -> str | list[str]:
        """The continuation of `prime` (a str), or a list of `num` of them sampled as one batch.
        `beam` > 0: the likeliest continuation beam search finds (temperature and top-k/p unused)."""
        options = self._options(options, temperature, sampling)
        if beam:
            samples = write_samples(self.network, prime, length, num or 1, beam=beam, seed=seed, stop=stop,
                                    options=options)
            return [s.text for s in samples] if num is not None else samples[0].text
        count = 1 if num is None else num
        transcript = Transcript(max(count, 0), stop_list(stop))
        for _ in stream_pieces(self.network, prime, length, options, seed, count, stop, transcript):
            pass
        return transcript.texts if num is not None else transcript.texts[0]

    def samples(self, prime: str = "", length: int = 500, num: int = 1,
                temperature: float | Sequence[float] | None = None, *, beam: int = 0, seed: int | None = None,
                stop: str | Sequence[str] | None = None, constraint: Constraint | None = None,
                options: SamplingOptions | None = None, **sampling) -> list[Sample]:
        """`num` samples for each temperature (in order), each with the model's log-probability of
        every written character (and of <eos> when it ended there); `beam` > 0: the one likeliest
        continuation. See charrnn.generation.samples.write_samples."""
        return write_samples(self.network, prime, length, num, temperature, beam=beam, seed=seed, stop=stop,
                             constraint=constraint, options=options, **sampling)

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
        texts = [s.text for s in self.poem_samples(shape, num or 1, **decoding)]
        return texts if num is not None else texts[0]

    def poem_samples(self, form: PoemForm, num: int = 1, **decoding) -> list[Sample]:
        """`poem`, whole: `num` poems of a PoemForm for each temperature, as Samples (the text, its
        temperature and log-probabilities), what `charrnn poem` and POST /api/poem report."""
        return run_plan(self.poem_plan(form, num, **decoding))

    def poem_plan(self, form: PoemForm, num: int = 1, **decoding) -> Plan[list[Sample]]:
        """`poem_samples` as a plan (charrnn.generation.samples): the decodes it needs, for a runner of
        one's own (the server's batch runs them beside every other request's)."""
        return poem_plan(self.network, form, num, **decoding)

    def names(self, num: int = 20, *, new_only: bool = False, min_len: int = 1, max_len: int | None = None,
              starts_with: str = "", **decoding) -> list[str]:
        """`num` names (one sample each, to <eos>) from a lines-mode run; `new_only` drops names of
        the training set and duplicates. `decoding`: temperature, top_k, top_p, repetition options,
        seed. See charrnn.writers.names."""
        return [n.name for n in self.name_samples(num, new_only=new_only, min_len=min_len, max_len=max_len,
                                                  starts_with=starts_with, **decoding).names]

    def name_samples(self, num: int = 20, *, new_only: bool = False, min_len: int = 1, max_len: int | None = None,
                     starts_with: str = "", **decoding) -> NamesResult:
        """`names`, whole: each name with its log-probability and whether it is new, how many samples
        were drawn and dropped, and the warnings (what `charrnn names` and POST /api/names report)."""
        return run_plan(self.name_plan(num, new_only=new_only, min_len=min_len, max_len=max_len,
                                       starts_with=starts_with, **decoding))

    def name_plan(self, num: int = 20, *, new_only: bool = False, min_len: int = 1, max_len: int | None = None,
                  starts_with: str = "", **decoding) -> Plan[NamesResult]:
        """`name_samples` as a plan (charrnn.generation.samples); `batch` bounds the rows of each decode."""
        rules = NameRules(min_len, max_len, starts_with)
        return names_plan(self.network, num, rules, checkpoint.read_train_lines(self.run_dir), new_only, **decoding)

    def inspect(self, text: str, top_k: int = 5, units: str | Sequence[Unit | str] | None = "all") -> Inspection:
        """For each character of `text`: its surprisal, the entropy and top guesses of the prediction
        that scored it, and every unit's activation after reading it (`units`: "all", a list of units
        such as "1:42" or "0:7:c", or None for none). See charrnn.inside.inspection."""
        keep = "all" if units == "all" else [u if isinstance(u, Unit) else Unit.parse(u) for u in units or ()]
        return inspect_text(self.network, text, top_k, keep)

    def neurons(self, text: str | None = None, top: int = 10, max_chars: int = NEURON_CHARS) -> list[Finding]:
        """The units that track a simple feature of `text` (default: the first `max_chars` characters of
        the run's validation text), strongest first. See charrnn.inside.neurons."""
        return self.neuron_report(text, top, max_chars).units

    def neuron_report(self, text: str | None = None, top: int = 10, max_chars: int = NEURON_CHARS) -> NeuronReport:
        """`neurons`, whole: the text read, its inspection, the top units and the best unit per feature."""
        if top < 1:
            raise CharRNNError(f"--top must be >= 1 (got {top})")
        text = self.validation_text(max_chars) if text is None else text
        return report_neurons(text, self.inspect(text), top)

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
        return score(self.network, ids, exact=exact)

    @staticmethod
    def _options(options: SamplingOptions | None, temperature: float | None, sampling: dict) -> SamplingOptions:
        return sampling_options(options, **sampling, **({} if temperature is None else {"temperature": temperature}))


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
    return TrainedModel(Network(model, vocab, info.mode), info, run_dir)

"""A trained run, ready to write and score text: `charrnn.load(run) -> TrainedModel`.

    model = charrnn.load("runs/tinyshakespeare")
    model.generate("ROMEO:", length=200, temperature=0.8)   # -> the continuation (a str)
    for ch in model.stream("ROMEO:", length=200): ...       # characters as they are made
    model.evaluate(open("play.txt").read())                 # -> {"loss_nats", "bpc", "perplexity", "chars"}

The CLI's `sample` and `eval` and the training loop's eval samples all go through here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from charrnn import checkpoint
from charrnn.common import pick_device
from charrnn.errors import CharRNNError, warn
from charrnn.evaluate import score
from charrnn.model import CharRNN
from charrnn.sampling import SamplingOptions, sample_next
from charrnn.vocab import BOS, EOS, UNK, Vocabulary


def _random_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


@torch.inference_mode()
def decode_steps(model: CharRNN, vocab: Vocabulary, mode: str, prime: str, length: int,
                 options: SamplingOptions, generator: torch.Generator, num: int = 1) -> Iterator[list[str]]:
    """Yield, once per step, the next character of each of `num` samples ("" once a sample has ended).

    The prime is read in one forward call; then one character at a time is sampled and fed back.
    Lines-mode runs start from <bos> and end a sample at <eos>.
    """
    device = model.head.weight.device
    prime_ids = vocab.encode(prime).astype(np.int64).tolist()
    if mode == "lines":
        prime_ids = [BOS] + prime_ids
    elif not prime_ids:  # an empty prime: start where a line would start, as the text does
        prime_ids = [vocab.id_of("\n")] if "\n" in vocab else [len(vocab) - 1]
    x = torch.tensor([prime_ids] * num, device=device)  # (num, P)
    logits, state = model(x)
    banned = torch.zeros(len(vocab), dtype=torch.bool, device=device)
    banned[[UNK, BOS]] = True
    if mode != "lines":
        banned[EOS] = True
    ended = torch.zeros(num, dtype=torch.bool, device=device)
    for _ in range(length):
        nxt = sample_next(logits[:, -1], options, generator, banned)  # (num,)
        ended |= nxt == EOS
        ids = nxt.tolist()
        yield ["" if done else vocab.decode([i]) for i, done in zip(ids, ended.tolist())]
        if bool(ended.all()):
            return
        logits, state = model(nxt.view(num, 1), state)


class TrainedModel:
    def __init__(self, model: CharRNN, vocab: Vocabulary, info: checkpoint.RunInfo, run_dir: Path | None,
                 device: torch.device) -> None:
        self.model, self.vocab, self.info, self.run_dir, self.device = model, vocab, info, run_dir, device

    @property
    def mode(self) -> str:
        return self.info.mode

    def _check_prime(self, prime: str) -> None:
        unknown = self.vocab.unknown(prime)
        if self.mode == "lines":
            unknown.pop("\n", None)
        if unknown:
            shown = "".join(sorted(unknown))[:20]
            warn(f"{sum(unknown.values())} prime character(s) not in the vocabulary ({shown!r}) are read as <unk>")

    def stream(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int | None = None, stop: str | None = None) -> Iterator[str]:
        """The continuation of `prime`, a character at a time (ends at `stop`, which is not yielded)."""
        yield from self._stream_many(prime, length, SamplingOptions(temperature, top_k, top_p), seed, 1, stop, 0)

    def generate(self, prime: str = "", length: int = 500, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None, num: int | None = None,
                 stop: str | None = None) -> str | list[str]:
        """The continuation of `prime` (a str), or a list of `num` of them sampled as one batch."""
        count = 1 if num is None else num
        texts = ["" for _ in range(max(count, 0))]
        options = SamplingOptions(temperature, top_k, top_p)
        for index, piece in self._pieces(prime, length, options, seed, count, stop):
            texts[index] += piece
        return texts if num is not None else texts[0]

    def _stream_many(self, prime, length, options, seed, num, stop, index) -> Iterator[str]:
        for i, piece in self._pieces(prime, length, options, seed, num, stop):
            if i == index:
                yield piece

    def _pieces(self, prime: str, length: int, options: SamplingOptions, seed: int | None, num: int,
                stop: str | None) -> Iterator[tuple[int, str]]:
        """(sample index, text) pieces in order; text is held back only while it may begin `stop`."""
        if length < 0:
            raise CharRNNError(f"--length must be >= 0 (got {length})")
        if num <= 0:
            raise CharRNNError(f"--num must be > 0 (got {num})")
        if stop == "":
            stop = None
        self._check_prime(prime)
        generator = torch.Generator(device=self.device).manual_seed(_random_seed() if seed is None else seed)
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

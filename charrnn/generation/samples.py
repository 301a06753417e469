"""A request to write, whole: the checks, the temperature fan-out, sampling or beam search, the
stop strings. The facade's generate, stream and samples, and the writers, all write through it.

    check_request   refuse a bad length or count; warn of prime characters the network never saw
    Plan, run_plan  a writer's work as decodes to run, and the runner that runs them one by one
    sample_plan     `num` samples for each temperature (each seeded afresh), or the one that beam
                    search finds; each cut at the first stop string
    write_samples   run_plan(sample_plan(...))
    stream_pieces   (sample index, text) as it is written, held back only while it may begin a stop

A Plan is a generator: it yields a list of Decodes to run, is sent back each one's Samples in the
same order, and returns its result (poems and names are plans too). Alone, run_plan runs the
decodes one after another; the server's scheduler runs them side by side with every other
request's (charrnn.generation.batch), and a decode draws the same numbers either way.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import TypeVar

from charrnn.errors import CharRNNError, warn
from charrnn.generation.beam import beam_search
from charrnn.generation.decoding import Constraint, Sample
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions, per_temperature
from charrnn.generation.rows import Decode, decode_alone
from charrnn.generation.streaming import (Transcript, cut_sample, make_generator, prime_warning, stop_list,
                                          text_steps, written_pieces)

T = TypeVar("T")
Plan = Generator[list[Decode], list[list[Sample]], T]


def check_request(network: Network, prime: str, length: int, num: int) -> None:
    if length < 0:
        raise CharRNNError(f"--length must be >= 0 (got {length})")
    if num <= 0:
        raise CharRNNError(f"--num must be > 0 (got {num})")
    message = prime_warning(network, prime)
    if message:
        warn(message)


def run_plan(plan: Plan[T]) -> T:
    """Run a plan alone: each decode it asks for, one after another, to its end."""
    try:
        decodes = next(plan)
        while True:
            decodes = plan.send([decode_alone(d) for d in decodes])
    except StopIteration as done:
        return done.value


def sample_plan(network: Network, prime: str = "", length: int = 500, num: int = 1,
                temperature: float | Sequence[float] | None = None, *, beam: int = 0, seed: int | None = None,
                stop: str | Sequence[str] | None = None, constraint: Constraint | None = None,
                options: SamplingOptions | None = None, **sampling) -> Plan[list[Sample]]:
    """`num` samples for each temperature (in order), each with the network's log-probability of
    every written character (and of <eos> when it ended there). The generator is seeded afresh
    for each temperature, so a value gives the same samples alone or in a list.

    `beam` > 0: one Sample, the likeliest continuation that `beam` hypotheses find (never less
    likely than greedy decoding), searched at once (it asks for no decode); the temperature,
    top-k and top-p are then not used.
    `constraint`: a writer's form (charrnn.generation.decoding.Constraint), as poems and names use."""
    each = per_temperature(options, temperature, **sampling)
    check_request(network, prime, length, num)
    if beam < 0:
        raise CharRNNError(f"--beam must be >= 0 (got {beam})")
    if beam:
        if num != 1:
            raise CharRNNError(f"--beam finds the one likeliest continuation: use --num 1 (got {num})")
        if len(each) > 1:
            raise CharRNNError("--beam does not sample, so several temperatures make no sense: give one")
        found = [beam_search(network, prime, length, beam, each[0], constraint)]
    else:
        groups = yield [Decode(network, prime, length, options, make_generator(network.device, seed), num, constraint)
                        for options in each]
        found = [sample for group in groups for sample in group]
    stops = stop_list(stop)
    return [cut_sample(s, stops) for s in found] if stops else found


def write_samples(network: Network, prime: str = "", length: int = 500, num: int = 1,
                  temperature: float | Sequence[float] | None = None, **decoding) -> list[Sample]:
    """sample_plan, run alone: `num` samples for each temperature, or one from beam search."""
    return run_plan(sample_plan(network, prime, length, num, temperature, **decoding))


def stream_pieces(network: Network, prime: str, length: int, options: SamplingOptions, seed: int | None,
                  num: int = 1, stop: str | Sequence[str] | None = None,
                  transcript: Transcript | None = None) -> Iterator[tuple[int, str]]:
    """(sample index, text) pieces in order, through `transcript` (which then holds each sample's
    whole text and finish reason); text is held back only while it may begin a stop string."""
    check_request(network, prime, length, num)
    transcript = transcript or Transcript(num, stop_list(stop))
    yield from written_pieces(text_steps(network, prime, length, options, seed, num), transcript)

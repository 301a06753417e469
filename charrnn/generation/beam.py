"""Beam search: the likeliest continuation of a prime that `width` hypotheses find, never less
likely than greedy decoding; free or constrained, through the same step and rules as sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charrnn.generation import decoding
from charrnn.generation.decoding import Constraint, Rules, Sample, prime_ids
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import decoding_logprobs
from charrnn.model import select_state
from charrnn.vocab import BOS, EOS


@dataclass
class _Hypothesis:
    written: list[int]
    score: float  # the sum of decoding_logprobs: what the search maximises
    logprobs: list[float]  # the model's own, for the report

    def extended(self, i: int, scores: torch.Tensor, model_logp: torch.Tensor) -> _Hypothesis:
        """This text with id `i` added, given one row's decoding scores and model log-probs (V,)."""
        return _Hypothesis(self.written + [i], self.score + float(scores[i]), self.logprobs + [float(model_logp[i])])


# The likeliest: the highest sum of `decoding_logprobs`, i.e. the model's own log-probability when
# there is no repetition penalty. Plain beam search can prune the greedy path and end below it, so
# the greedy path is carried along as row 0 of the batch and competes at the end:
#
#     rows of one batch, one `step` per position:   [greedy (while open), beam 1, ..., beam width]
@torch.inference_mode()
def beam_search(network: Network, prime: str, length: int, width: int, options: SamplingOptions,
                constraint: Constraint | None = None) -> Sample:
    """The likeliest continuation of `prime` (at most `length` ids) that `width` hypotheses find,
    never less likely than greedy decoding (see the comment above)."""
    model, device, V = network.model, network.device, len(network.vocab)
    start = prime_ids(network, prime)
    context = [i for i in start if i != BOS]
    rules = Rules(network, options, constraint)
    logits, state = decoding.step(model, torch.tensor([start] * 2, device=device))  # (2, V): greedy, beam
    greedy, beam, finished = _Hypothesis([], 0.0, []), [_Hypothesis([], 0.0, [])], []
    greedy_open = length > 0
    for t in range(length):
        hyps = ([greedy] if greedy_open else []) + beam  # the rows of `logits` and `state`, in order
        written = [h.written for h in hyps]
        histories = rules.histories(context, written)
        scores = decoding_logprobs(logits, options, rules.banned(histories, written), rules.seen(histories))  # (R, V)
        model_logp = torch.log_softmax(logits.float(), dim=-1)  # (R, V)
        last, first_beam_row = t == length - 1, 1 if greedy_open else 0
        keep_rows, keep_ids = [], []
        if greedy_open:
            greedy = greedy.extended(int(scores[0].argmax()), scores[0], model_logp[0])
            greedy_open = not (greedy.written[-1] == EOS or rules.complete(greedy.written) or last)
            if greedy_open:
                keep_rows.append(0)
                keep_ids.append(greedy.written[-1])
        open_children = []
        if beam:
            totals = torch.tensor([h.score for h in beam], device=device).view(-1, 1) + scores[first_beam_row:]
            top = torch.topk(totals.flatten(), min(2 * width, totals.numel()))
            top_logp = model_logp[first_beam_row:].flatten()[top.indices].tolist()  # one read, not one per candidate
            for total, flat, logp in zip(top.values.tolist(), top.indices.tolist(), top_logp):
                if total == float("-inf") or len(open_children) == width:
                    break
                r, i = divmod(flat, V)
                row = first_beam_row + r
                child = _Hypothesis(beam[r].written + [i], total, beam[r].logprobs + [logp])
                if i == EOS or rules.complete(child.written) or last:
                    finished.append(child)
                else:
                    open_children.append((child, row, i))
        # Scores only fall as a text grows: an open text below the best finished one can never win.
        best_done = max((h.score for h in finished), default=float("-inf"))
        open_children = [c for c in open_children if c[0].score > best_done]
        beam = [child for child, _, _ in open_children]
        keep_rows += [row for _, row, _ in open_children]
        keep_ids += [i for _, _, i in open_children]
        if not keep_rows:
            break
        index = torch.tensor(keep_rows, device=device)
        ids = torch.tensor(keep_ids, device=device).view(-1, 1)
        logits, state = decoding.step(model, ids, select_state(state, index))
    best = max(finished + [greedy], key=lambda h: h.score)
    text = network.vocab.decode([i for i in best.written if i != EOS])
    ended = bool(best.written) and (best.written[-1] == EOS or rules.complete(best.written))
    return Sample(text, best.logprobs, None, ended)

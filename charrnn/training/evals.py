"""A run's validation record: the evals during training, the best and last scores, and the whole
split at the end.

Evals during training score a fixed subset of the validation split (--eval-chars; the same pieces
each time, so the curve is comparable) in the training precision, to keep them a small share of the
run; the run's last eval scores the whole split for the last and the best weights, and those are
the numbers the result, `charrnn info` and the benchmarks report.
"""

from __future__ import annotations

import copy
import math

from charrnn import checkpoint
from charrnn.device import uses_bf16
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.scoring import eval_mode, score_split, score_sums, scores_part, summary
from charrnn.generation.streaming import Transcript, text_steps, written_pieces
from charrnn.training import distributed
from charrnn.training.engines import Engine
from charrnn.training.run_setup import RunSetup

EVAL_SAMPLE = SamplingOptions(temperature=0.8)  # the sample printed at each eval


class Evals:
    """The scores of one run's weights on its validation split, kept by the loop (loop.py)."""

    def __init__(self, setup: RunSetup, engine: Engine) -> None:
        self.setup, self.config, self.run_dir, self.engine = setup, setup.config, setup.run_dir, engine
        self.world = distributed.current()
        self.dtype = engine.eval_dtype  # the training precision, or fp32 for the reference engine
        self.best_val, self.best_step, self.last_val = math.inf, 0, None
        self.best_is_whole = False  # best_val is the whole split's score (after final()), not a subset's

    def meta(self) -> dict:
        """What trainer.safetensors keeps of the record."""
        return {"best_val": self.best_val if math.isfinite(self.best_val) else None, "last_val": self.last_val,
                "best_step": self.best_step, "eval": self.settings()}

    def restore(self, meta: dict) -> None:
        self.best_val = meta["best_val"] if meta.get("best_val") is not None else math.inf
        self.last_val = meta.get("last_val")
        best_file = self.run_dir / checkpoint.BEST
        if "best_step" in meta:
            self.best_step = int(meta["best_step"])
        else:  # a run saved before best_step was kept: best.safetensors says
            self.best_step = int(checkpoint.read_header(best_file)[1].get("step", 0)) if best_file.exists() else 0
        if meta.get("eval") != self.settings() and math.isfinite(self.best_val) and best_file.exists():
            # The best was scored another way (another --eval-chars or precision, or an older version):
            # score it as the evals to come will be, or they would be compared with a different number.
            self.best_val = self.score(self.best_network(), self.config.eval_chars)["loss_nats"]

    def network(self) -> Network:
        """The weights in training as a Network, scored and sampled here."""
        return Network(self.engine.current_model(), self.setup.corpus.vocab, self.setup.corpus.mode)

    def score(self, network: Network, max_chars: int) -> dict:
        """The summary of the validation split (a subset with max_chars); every rank scores its share."""
        total, count = score_sums(network, self.setup.corpus.val, self.dtype, rank=self.world.rank,
                                  world_size=self.world.size, max_chars=max_chars)
        total, count = distributed.all_reduce_sum([total, float(count)], self.engine.device)
        return summary(total, int(count))

    def score_with_subset(self, network: Network) -> tuple[dict, dict]:
        """The summaries of the whole validation split and of the evals' subset, from one pass."""
        sums = score_split(network, self.setup.corpus.val, self.dtype, self.config.eval_chars,
                           rank=self.world.rank, world_size=self.world.size)
        total, count, part_total, part_count = distributed.all_reduce_sum([float(n) for n in sums],
                                                                          self.engine.device)
        return summary(total, int(count)), summary(part_total, int(part_count))

    def evaluate(self, step: int, elapsed: float, bar) -> None:
        """An eval during training: the subset's score against the best so far."""
        result = None
        if len(self.setup.corpus.val) >= 2:
            result = self.score(self.network(), self.config.eval_chars)
            self.last_val = result["loss_nats"]
            if self.last_val < self.best_val:
                self.best_val, self.best_step = self.last_val, step
        self.report(step, elapsed, bar, result, final=False)

    def final(self, step: int, elapsed: float, bar) -> None:
        """The end of a run whose evals score a subset: the last weights on the whole split, in place of
        one more subset eval. When the last weights do not beat the best on the subset (its score read
        off the same pass), the best ones are scored on the whole split too and the better of the two
        is the run's best (scoring only the one that can win halves the cost: tang-poems' split takes
        10 s on 2 cores). From here best_val and last_val are whole-split numbers: what
        best.safetensors, the result and `charrnn info` carry."""
        result, subset = self.score_with_subset(self.network())
        earlier_best = (math.isfinite(self.best_val) and (self.run_dir / checkpoint.BEST).exists()  # not if all NaN
                        and not subset["loss_nats"] < self.best_val)
        best = self.score(self.best_network(), 0)["loss_nats"] if earlier_best else math.inf
        self.last_val, self.best_val, self.best_is_whole = result["loss_nats"], best, True
        if self.last_val < best:
            self.best_val, self.best_step = self.last_val, step
        self.report(step, elapsed, bar, result, final=True)

    def report(self, step: int, elapsed: float, bar, result: dict | None, final: bool) -> None:
        """An eval's metrics line, its printed line and its sample (rank 0)."""
        if not self.world.is_main:
            return
        record = {"step": step, "elapsed": elapsed}
        if result is not None:
            subset, improved = not final and self.scores_a_subset(), self.best_step == step
            record.update(val_loss=result["loss_nats"], val_bpc=result["bpc"], val_chars=result["chars"],
                          val_subset=subset, val_bf16=uses_bf16(self.engine.device, self.dtype))
            scope = f" on {result['chars']:,} val chars" if subset else ""
            if final:
                best = self.best_val if math.isfinite(self.best_val) else None
                record.update(whole_val_loss=result["loss_nats"], whole_best_val_loss=best, best_step=self.best_step)
                scope = f" on the whole validation split ({result['chars']:,} chars)"
                if not improved and best is not None:
                    scope += f"; best (step {self.best_step}) {best:.4f}"
            bar.write(f"step {step}: val {result['loss_nats']:.4f} nats/char ({result['bpc']:.3f} bpc){scope}"
                      f"{' (best)' if improved else ''} | {elapsed:.0f}s")
        if self.config.sample_chars:  # kept in the record too: the server's studio shows it
            record["sample"] = self.sample(self.network(), step)
            bar.write("    " + record["sample"].replace("\n", "\n    "))
        checkpoint.append_metrics(self.run_dir, record)

    def scores_a_subset(self) -> bool:
        """Whether the evals score part of the validation split (so the end of the run scores all of it)."""
        corpus = self.setup.corpus
        return len(corpus.val) >= 2 and scores_part(len(corpus.val), corpus.mode, self.config.eval_chars)

    def best_network(self) -> Network:
        """best.safetensors as a network on the training device: a copy of the engine's model, so no
        random number is drawn (a resumed run stays bit-exact) and the weights in training are untouched."""
        model, path = copy.deepcopy(self.engine.current_model()), self.run_dir / checkpoint.BEST
        checkpoint.load_weights(model, checkpoint.load_tensors(path)[0], path)
        return Network(model, self.setup.corpus.vocab, self.setup.corpus.mode)

    def settings(self) -> dict:
        """How the evals score, saved with the best val: a resume that scores another way re-scores the best."""
        eval_chars = 0 if self.best_is_whole else self.config.eval_chars
        return {"eval_chars": eval_chars, "bf16": uses_bf16(self.engine.device, self.dtype)}

    def sample(self, network: Network, step: int) -> str:
        """What the model writes now (lines mode: a few whole samples, one a line), seeded by the step."""
        num = 5 if network.mode == "lines" else 1
        transcript = Transcript(num, [])
        with eval_mode(network.model):
            steps = text_steps(network, "", self.config.sample_chars, EVAL_SAMPLE, step, num)
            for _ in written_pieces(steps, transcript):
                pass
        return "\n".join(transcript.texts)

"""Before the first step: which corpus, which model, which run folder, by path: a new run, a resumed
run or a fine-tuned one (`--init-from`), each a function, with one shared tail.

Everything that can be wrong with the user's input is found here, before the run folder is
written, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from charrnn import checkpoint
from charrnn.data.batches import line_spans, make_batches
from charrnn.data.corpus import Corpus, load_corpus, source_files
from charrnn.errors import CharRNNError, warn
from charrnn.flags import field_names
from charrnn.model_config import ModelConfig
from charrnn.training import distributed
from charrnn.training.config import EVAL_EVERY, FIXED_ON_RESUME, LATER_FIELDS, TrainConfig, apply_preset, preset_seq_len
from charrnn.training.engines import engine_class
from charrnn.training.lock import RunLock
from charrnn.training.run_setup import RunSetup


def prepare(train_given: dict, model_given: dict, main_process: bool = True) -> RunSetup:
    """Validate the flags, load the corpus and decide the run folder. Writes config.json and
    vocab.json only when everything checked out. Under torchrun the other ranks come after rank 0
    (main_process=False): they read the same corpus and neither check nor write the folder."""
    if train_given.get("resume"):
        return resume_run(train_given, model_given, main_process)
    engine = engine_class(train_given.get("engine", TrainConfig.engine))
    train_given, model_given = engine.defaults(train_given, model_given)
    train_given, model_given = apply_preset(train_given, model_given, fine_tuning=bool(train_given.get("init_from")))
    config = TrainConfig(**train_given)
    if config.init_from:
        return fine_tune_run(config, model_given, main_process)
    return new_run(config, model_given, main_process)


def new_run(config: TrainConfig, model_given: dict, main_process: bool = True) -> RunSetup:
    """A run from scratch: a new vocabulary, the model the flags ask for."""
    files, name, default_mode = corpus_files(config)
    run_dir = _new_run_dir(config, name, main_process)
    corpus = load_corpus(files, default_mode if config.mode == "auto" else config.mode, encoding=config.encoding,
                         max_vocab=config.max_vocab or None, val_frac=config.val_frac, name=name)
    model_config = ModelConfig(**model_given).resolved(len(corpus.vocab))
    return _finish(config, model_config, corpus, run_dir, main_process)


def fine_tune_run(config: TrainConfig, model_given: dict, main_process: bool = True) -> RunSetup:
    """A new run that starts from another run's weights and vocabulary (--init-from)."""
    files, name, _ = corpus_files(config)
    run_dir = _new_run_dir(config, name, main_process)
    base = Path(config.init_from)
    info, vocab = checkpoint.read_run(base)
    _check_unchanged(model_given, info.model, model_given, "model")
    corpus = load_corpus(files, info.mode if config.mode == "auto" else config.mode, encoding=config.encoding,
                         vocab=vocab, val_frac=config.val_frac, name=name)
    if corpus.unknown:
        warn(f"{corpus.unknown:,} character(s) of the new corpus are not in {base}'s vocabulary "
             f"and are read as <unk>")
    return _finish(config, info.model, corpus, run_dir, main_process, checkpoint.weights_file(base, "best"))


def resume_run(train_given: dict, model_given: dict, main_process: bool = True) -> RunSetup:
    """The run in --out, continued: its saved flags, with the few a resume may change (the budget,
    evals, logging, the engine) taken from the command line."""
    run_dir = Path(TrainConfig(**train_given).out)  # the flags are valid on their own; --resume needs --out
    if not checkpoint.is_run(run_dir):
        raise CharRNNError(f"--resume: {run_dir} is not a run folder (nothing to resume); drop --resume to start it")
    lock = RunLock(run_dir).acquire() if main_process else None  # rank 0 holds it for every rank
    try:
        info, vocab = checkpoint.read_run(run_dir)
        saved_train = {**LATER_FIELDS, **info.train}
        saved = TrainConfig(**{k: v for k, v in saved_train.items() if k in field_names(TrainConfig)})
        given = dict(train_given)
        if "inputs" in given:
            given["inputs"] = [str(Path(p).resolve()) for p in given["inputs"]]
        _check_unchanged(given, saved, FIXED_ON_RESUME, "run")
        _check_unchanged(model_given, info.model, model_given, "model")
        changes = {k: v for k, v in train_given.items() if k not in FIXED_ON_RESUME and k != "out"}
        config = dataclasses.replace(saved, **changes)
        files, name, _ = corpus_files(config)
        corpus = load_corpus(files, info.mode, encoding=config.encoding, vocab=vocab, val_frac=config.val_frac,
                             name=name)
        return dataclasses.replace(_finish(config, info.model, corpus, run_dir, write_files=False), lock=lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _finish(config: TrainConfig, model_config: ModelConfig, corpus: Corpus, run_dir: Path, write_files: bool,
            init_weights: Path | None = None) -> RunSetup:
    """The shared tail: the checks every path needs, the batches, and (new runs, rank 0) the run files."""
    if not config.resume:
        config = dataclasses.replace(config, out=str(run_dir), mode=corpus.mode,
                                     seq_len=config.seq_len or auto_seq_len(corpus, config.preset))
    engine_class(config.engine).check(config, model_config, distributed.current().size)
    batches = make_batches(corpus.train, corpus.mode, config.batch_size, config.seq_len, config.seed)
    if not config.eval_every:  # saved resolved, as --seq-len is: a resume evaluates at the same steps
        config = dataclasses.replace(config, eval_every=auto_eval_every(batches.epoch_steps()))
    if len(corpus.val) < 2 and config.val_frac > 0:
        raise CharRNNError(f"the validation split is empty: the corpus is too small for --val-frac "
                           f"{config.val_frac}; add text or use --val-frac 0")
    lock = _write_new_run(config, model_config, corpus, run_dir) if write_files else None
    return RunSetup(config, model_config, corpus, batches, run_dir, init_weights, lock)


def _write_new_run(config: TrainConfig, model_config: ModelConfig, corpus: Corpus, run_dir: Path) -> RunLock:
    """config.json, vocab.json (and train_lines.txt), under the run folder's lock, which stays held."""
    lock = RunLock(run_dir).acquire()
    try:
        if checkpoint.is_run(run_dir):  # written by another trainer since the first check
            raise CharRNNError(f"{run_dir} already holds a run: continue it with --resume, "
                               f"or choose another --out (it is never overwritten)")
        info = checkpoint.RunInfo(model=model_config, train=_saved_train_dict(config), mode=corpus.mode)
        checkpoint.write_run_config(run_dir, info, corpus.vocab)
        if corpus.mode == "lines":
            lines = corpus.vocab.as_text(np.concatenate([corpus.train, corpus.val]))
            checkpoint.write_run_file(run_dir / checkpoint.TRAIN_LINES, lines.encode())
    except BaseException:
        lock.release()
        raise
    return lock


def auto_seq_len(corpus: Corpus, preset: str | None = None) -> int:
    """--seq-len 0: in stream mode the preset's characters of BPTT, else 128 (STREAM_SEQ_LEN); in lines
    mode the longest training line (with its <eos>), so that every line is learned to its end."""
    if corpus.mode != "lines" or len(corpus.train) == 0:
        return preset_seq_len(preset)
    spans = line_spans(corpus.train)
    return int((spans[:, 1] - spans[:, 0]).max())


def auto_eval_every(pass_steps: int) -> int:
    """--eval-every 0: every EVAL_EVERY steps, or every pass when a pass is under half of that, so that
    evals are never more than two passes apart (small corpora memorise within a few; config.py)."""
    return EVAL_EVERY if 2 * pass_steps >= EVAL_EVERY else max(1, pass_steps)


def corpus_files(config: TrainConfig) -> tuple[list[Path], str, str]:
    """(files, corpus name, default mode) from --dataset or the input paths."""
    return source_files(config.dataset, config.inputs, config.glob)


def _new_run_dir(config: TrainConfig, name: str, main_process: bool) -> Path:
    run_dir = Path(config.out or Path("runs") / name)
    if main_process and checkpoint.is_run(run_dir):
        RunLock(run_dir).acquire().release()  # a live trainer there is named in the refusal
        raise CharRNNError(f"{run_dir} already holds a run: continue it with --resume, "
                           f"or choose another --out (it is never overwritten)")
    if run_dir.exists() and not run_dir.is_dir():
        raise CharRNNError(f"--out {run_dir}: exists and is not a folder")
    return run_dir


def _saved_train_dict(config: TrainConfig) -> dict:
    saved = dataclasses.asdict(config)
    saved["inputs"] = [str(Path(p).resolve()) for p in config.inputs]  # resume works from any folder
    saved["resume"] = False
    return saved


def _check_unchanged(given: dict, saved, names, what: str) -> None:
    for name in names:
        if name in given and given[name] != getattr(saved, name):
            flag = "--" + name.replace("_", "-")
            raise CharRNNError(f"{flag} {given[name]} differs from the {what}'s {getattr(saved, name)}: "
                               f"a resumed or fine-tuned run keeps its {what}; drop the flag or train a new --out")


def describe(setup: RunSetup) -> str:
    c, m = setup.corpus, setup.model_config
    return (f"{c.name}: {len(c.train):,} train / {len(c.val):,} val tokens, {len(c.vocab)} token vocabulary, "
            f"{c.mode} mode | {m.layers}x{m.hidden} {m.cell}, embed {m.embed or 'one-hot'}, {m.output} output | "
            f"run folder {setup.run_dir}")

"""Before the first step: which corpus, which model, which run folder, by path: a new run, a resumed
run or a fine-tuned one (`--init-from`), each a function, with one shared tail.

Everything that can be wrong with the user's input is found here, before the run folder is
written, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn import checkpoint
from charrnn.data.batches import LineBatches, StreamBatches, line_spans, make_batches
from charrnn.data.corpus import Corpus, load_corpus, source_files
from charrnn.data.datasets import dataset_names, get_dataset
from charrnn.device import check_precision, pick_device
from charrnn.errors import CharRNNError, warn
from charrnn.flags import field_names
from charrnn.model_config import DROPOUTS, ModelConfig
from charrnn.training import distributed
from charrnn.training.config import (EVAL_EVERY, FIXED_ON_RESUME, LATER_FIELDS, STREAM_SEQ_LEN, TrainConfig,
                                     apply_preset, check_engine)
from charrnn.training.lock import RunLock


@dataclass
class RunSetup:
    config: TrainConfig
    model_config: ModelConfig
    corpus: Corpus
    batches: StreamBatches | LineBatches
    run_dir: Path
    init_weights: Path | None = None  # --init-from: the weights to start from
    lock: RunLock | None = None  # rank 0 holds the run folder while it trains (lock.py)


def prepare(train_given: dict, model_given: dict, main_process: bool = True) -> RunSetup:
    """Validate the flags, load the corpus and decide the run folder. Writes config.json and
    vocab.json only when everything checked out. Under torchrun the other ranks come after rank 0
    (main_process=False): they read the same corpus and neither check nor write the folder."""
    if train_given.get("resume"):
        return resume_run(train_given, model_given, main_process)
    if train_given.get("engine") == "numpy":  # min-char-rnn's engine: no regularisers, a preset's neither
        train_given = {"weight_decay": 0.0, **train_given}
        model_given = {**{name: 0.0 for name in DROPOUTS}, **model_given}
    train_given, model_given = apply_preset(train_given, model_given, _expected_mode(train_given),
                                            fine_tuning=bool(train_given.get("init_from")))
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
    model_given = dict(model_given)
    if config.engine == "numpy":  # the numpy engine reads one-hot input, as min-char-rnn
        if model_given.get("output") == "tied":
            raise CharRNNError("--engine numpy has a full output layer only: drop --output tied "
                               "or train with --engine torch")
        model_given.setdefault("embed", 0)
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
                                     seq_len=config.seq_len or auto_seq_len(corpus))
    check_engine(config, model_config, distributed.current().size)
    if config.engine == "torch":
        check_precision(pick_device(config.device), config.dtype, model_config.cell)
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
        checkpoint.write_run_files(run_dir, info, corpus.vocab)
        if corpus.mode == "lines":
            lines = corpus.vocab.as_text(np.concatenate([corpus.train, corpus.val]))
            checkpoint.atomic_write(run_dir / checkpoint.TRAIN_LINES, lines.encode())
    except BaseException:
        lock.release()
        raise
    return lock


def auto_seq_len(corpus: Corpus) -> int:
    """--seq-len 0: 128 characters of BPTT in stream mode; in lines mode the longest training line
    (with its <eos>), so that every line is learned to its end."""
    if corpus.mode != "lines" or len(corpus.train) == 0:
        return STREAM_SEQ_LEN
    spans = line_spans(corpus.train)
    return int((spans[:, 1] - spans[:, 0]).max())


def auto_eval_every(pass_steps: int) -> int:
    """--eval-every 0: every EVAL_EVERY steps, or every pass when a pass is under half of that, so that
    evals are never more than two passes apart (small corpora memorise within a few; config.py)."""
    return EVAL_EVERY if 2 * pass_steps >= EVAL_EVERY else max(1, pass_steps)


def _expected_mode(train_given: dict) -> str:
    """The mode the run will have, before its corpus is read (for the preset's stream-only flags)."""
    mode = train_given.get("mode", "auto")
    if mode == "auto" and train_given.get("init_from"):  # a fine-tuned run keeps its base's mode
        return checkpoint.read_run(Path(train_given["init_from"]))[0].mode
    if mode == "auto" and train_given.get("dataset") in dataset_names():
        return get_dataset(train_given["dataset"]).default_mode
    return "stream" if mode == "auto" else mode


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

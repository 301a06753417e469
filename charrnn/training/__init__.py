"""Training: flags to a run folder full of checkpoints. Samples at evals through charrnn.generation.

    config.py         TrainConfig (every training flag), PRESETS (no torch)
    preparation.py    new run, resume or fine-tune: the corpus, the model config, the run folder
    run_setup.py      RunSetup: a run ready for its first step
    engines.py        the Engine protocol and the engines by name (--engine): each its defaults and checks
    torch_engine.py   a step with PyTorch (AdamW, clipping, bf16, DDP)
    numpy_engine.py   a step with the numpy reference engine (Adagrad, float64)
    loop.py           the one training loop: budget, LR schedule, early stop, checkpoints, Ctrl-C, resume
    evals.py          the val record: subset evals, best and last, the whole split at the end
    distributed.py    several processes under torchrun
    lock.py           one trainer per run folder
    launch.py         charrnn.train(): prepare, make the engine, run the loop
"""

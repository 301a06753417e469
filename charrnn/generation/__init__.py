"""Generation: from a trained network to text and scores. Knows nothing of training or run folders.

    options.py     SamplingOptions, the one place the decoding defaults live (no torch)
    sampling.py    pure functions of (logits, options, generator): bans, penalty, top-k/p, the draw
    stepper.py     one character at a time, fast: the weights laid out again for single steps
    decoding.py    the step, the rules, sampling and beam search, free or constrained
    streaming.py   ids to text as it is written: the step loop, the stop cutter, seeds, prime warnings
    scoring.py     the loss of a text: carried-state stream or lines, in parallel pieces
"""

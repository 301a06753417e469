"""Generation: from a trained network to text and scores. Knows nothing of training or run folders.

    network.py     Network: the model, its vocabulary and mode, the one value every function here takes
    options.py     SamplingOptions, the one place the decoding defaults live, and the temperature fan-out (no torch)
    sampling.py    pure functions of (logits, options, generator): bans, penalty, top-k/p, the draw
    stepper.py     one character at a time, fast: the weights laid out again for single steps
    decoding.py    the step, the rules, sampling and beam search, free or constrained
    streaming.py   ids to text as it is written: the step loop, the stop cutter, seeds, prime warnings
    samples.py     a request to write, whole: its checks, the temperatures, sampling or beam, the stops
    scoring.py     the loss of a text: carried-state stream or lines, in parallel pieces (the evals' too)
"""

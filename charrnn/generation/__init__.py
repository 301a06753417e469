"""Generation: from a trained network to text and scores. Knows nothing of training or run folders.

    network.py     Network: the model, its vocabulary and mode, the one value every function here takes
    options.py     SamplingOptions, the one place the decoding defaults live, and the temperature fan-out (no torch)
    sampling.py    pure functions of (logits, options, generator): bans, penalty, top-k/p, the draw
    stepper.py     one character at a time, fast: the weights laid out again for single steps
    decoding.py    what every decoder shares: the step, the prime, the rules, Sample
    rows.py        sampling: a request's rows (Decode), the next id of the rows of many requests at once
    batch.py       the rows of many requests stepped together, joining and leaving between steps
    beam.py        beam search, never less likely than greedy decoding
    streaming.py   ids to text as it is written: the step loop, the stop cutter, seeds, prime warnings
    samples.py     a request to write, whole: its checks, the temperatures, sampling or beam, the stops; plans
    scoring.py     the loss of a text: carried-state stream or lines, in parallel pieces (the evals' too)
"""

"""Looking inside a trained network: what it predicted at each character, and what its units hold.

    inspection.py   per character: surprisal, entropy, the top guesses, every unit's h (and an
                    LSTM's c) after reading it (inspect_text -> Inspection; Unit names one unit)
    neurons.py      the neuron finder: simple features of the text, the units whose activation
                    follows them (find_neurons, best_per_feature, NeuronReport)

Below the views that draw them (charrnn.views) and the facade (TrainedModel.inspect, .neurons);
above charrnn.generation, whose Network they read.
"""

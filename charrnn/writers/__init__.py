"""Writers: forms the model writes in, on top of the decoders in charrnn.generation.decoding.

    poems.py        regular Chinese poems by construction: form, acrostic, rhyme (`charrnn poem`)
    rhyme.py        rhyme groups (十三辙) from pypinyin
    names.py        names to <eos>, length bounds, a start, only new ones (`charrnn names`)
    interactive.py  the completion prompt (`charrnn sample --interactive`)

TrainedModel.poem and TrainedModel.names are the Python entry points.
"""

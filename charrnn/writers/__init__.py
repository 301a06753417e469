"""Writers: forms the network writes in, on top of the decoders in charrnn.generation. Each takes a
Network (and what else it needs, such as the training names), never the facade.

    poem_form.py    PoemForm: a poem's shape from the flags (form, acrostic, rhyme, meter, keywords)
    poems.py        regular Chinese poems by construction: the plain form, write_poems (`charrnn poem`)
    verse.py        regulated verse by construction: every position's tone, the rhymes of a book
    keywords.py     keywords placed by the decoder, around either form's constraint
    meter.py        the tonal patterns of regulated verse, and the checker (`poem --check`)
    rhyme_books.py  each character's tones and rhyme groups: 平水韵, 中华新韵, 十三辙
    rhyme.py        rhyme groups (十三辙) from pypinyin
    names.py        names to <eos>, length bounds, a start, only new ones (`charrnn names`)

TrainedModel.poem, .poem_samples, .names and .name_samples are the Python entry points.
"""

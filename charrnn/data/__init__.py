"""Data: from files or a named dataset to token ids and training batches. Knows nothing of models.

    textstream.py   files read in bounded chunks, strictly decoded and normalised
    catalog.py      the named datasets: pinned public sources, sha256, default mode, preparation
    downloads.py    where a dataset's text is found: the CHARRNN_DATA mirror, the cache, a verified download
    corpus.py       files -> vocabulary -> ids, cached per corpus as a memory-mapped token file
    batches.py      stream strips (truncated BPTT) and padded lines, with a restorable position
    cache.py        where downloads and encoded corpora are kept
"""

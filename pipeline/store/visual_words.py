"""Visual words: a picture's ORB features as search terms, so the store's own BM25 index finds the assets that
look the same as a query image without comparing it against every stored asset.

Each ORB descriptor (256 bits, pipeline/keypoints.py) gives WORD_TABLES words, each the value of WORD_BITS fixed
bit positions: locality-sensitive hashing for Hamming space. The same corner seen again in a crop, a rescale or
a re-encode keeps most of its bits, so it often keeps one of its words, while two unrelated corners share a
16-bit word about once in 65,536 tries. BM25's idf weighs down the words that every screenshot of one app shares
(its title bar, its buttons) as it does common text words. What the words find is only a candidate: search
verifies it geometrically (pipeline/search/visual.py).

Measured on the samples (45 images, each queried as 10/20/30 % crops, a quarter-size copy and a JPEG at
quality 60; bench/visual_words.py): 4 tables of 16 bits put the source first for 215 of 225 queries and in the
top 8 for all of them, with about 1,100 words an asset. 2 tables lose 30 % crops (31 of 45 first); 12-bit words
collide so often that idf cannot tell them apart (25 of 45).

The bit positions are fixed by WORD_SEED: changing them, the tables or the bits makes stored words unreadable, so
that needs a new VISUAL_WORDS_VERSION and a refill of the stored words (the prefix of every word carries it).
"""

from __future__ import annotations

import numpy as np

from pipeline.keypoints import Features, features

WORD_TABLES = 4
WORD_BITS = 16
WORD_SEED = 20261201
VISUAL_WORDS_VERSION = 1
_POSITIONS = [
    np.random.default_rng(WORD_SEED + table).choice(256, WORD_BITS, replace=False) for table in range(WORD_TABLES)
]
_WEIGHTS = (1 << np.arange(WORD_BITS)).astype(np.int64)


def words_of(found: Features | None) -> str:
    """The distinct visual words of some features, space separated ("" for a picture too plain to have any).

    A word is "v", the version, the table and the value ("v1200513"): letters then digits, so no tokenizer splits
    or stems it.
    """
    if found is None:
        return ""
    bits = np.unpackbits(found.descriptors, axis=1)
    words: set[str] = set()
    for table, positions in enumerate(_POSITIONS):
        values = bits[:, positions].astype(np.int64) @ _WEIGHTS
        words.update(f"v{VISUAL_WORDS_VERSION}{table}{value:05d}" for value in values.tolist())
    return " ".join(sorted(words))


def visual_words(thumbnail_jpeg: bytes) -> str:
    """The visual words of a stored thumbnail ("" when there is none or it cannot be decoded: the record is then
    found by its text and vector only, never lost)."""
    if not thumbnail_jpeg:
        return ""
    try:
        return words_of(features(thumbnail_jpeg))
    except OSError:
        return ""

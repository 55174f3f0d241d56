"""Near-duplicate lookup by PDQ hash over the whole reference library, vectorised with numpy.

Every reference hash is held as four 64-bit words (32 bytes a reference) and one query costs a
XOR and a popcount over all of them: 30 ms per million references on a 2-core CPU (up to 130 ms
when the CPU is busy; bench/moderation.py), so brute force is fine to a few million references.
Past that, a multi-index hash or a binary ANN index (FAISS IndexBinaryHNSW) is the next step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pipeline.errors import BadInput

HASH_BITS = 256
Words = NDArray[np.uint64]


def hash_words(hex_hash: str) -> Words:
    """A 64-hex-digit PDQ hash as four big-endian 64-bit words."""
    try:
        raw = bytes.fromhex(hex_hash)
    except ValueError as error:
        raise BadInput(f"PDQ hash {hex_hash!r}", "not hexadecimal") from error
    if len(raw) * 8 != HASH_BITS:
        raise BadInput(f"PDQ hash {hex_hash!r}", f"has {len(raw) * 8} bits, expected {HASH_BITS}")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


class PdqIndex:
    """All reference hashes in one array; `within` returns every row at most `threshold` bits away."""

    def __init__(self, hashes: Sequence[str]) -> None:
        self._words = np.stack([hash_words(value) for value in hashes]) if hashes else np.zeros((0, 4), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._words)

    def distances(self, hex_hash: str) -> NDArray[np.int64]:
        """Hamming distance from the query to every reference, in reference order."""
        return np.bitwise_count(self._words ^ hash_words(hex_hash)).sum(axis=1, dtype=np.int64)

    def within(self, hex_hash: str, threshold: int) -> list[tuple[int, int]]:
        """(row, distance) of the references within the threshold, nearest first."""
        distances = self.distances(hex_hash)
        rows = np.flatnonzero(distances <= threshold)
        return sorted(((int(row), int(distances[row])) for row in rows), key=lambda pair: (pair[1], pair[0]))

"""Near-duplicate prompts: MinHash signatures and LSH clusters (datasketch).

Copy-pasted test questions and spam would otherwise weigh in the leaderboard once per vote. A
prompt's signature is the MinHash of its normalised word 3-grams (1- and 2-grams for shorter
prompts); prompts whose estimated Jaccard similarity reaches ``THRESHOLD`` are joined into one
cluster (LSH candidates, confirmed on the signatures, then transitively). The leaderboard caps each
cluster's total weight, as lmarena down-samples its most frequent prompts.
"""
from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from arena.categories import normalise

NUM_PERM = 64
THRESHOLD = 0.8  # estimated Jaccard similarity of word 3-grams: a light edit of the same text
SEED = 1  # fixed, as the scheme: signatures stored today must compare with those computed later
SCHEME = "affine32"


def shingles(text: str) -> set[str]:
    words = normalise(text).split()
    size = min(3, len(words))
    return {" ".join(words[k:k + size]) for k in range(len(words) - size + 1)} if words else set()


# The permutations depend only on (NUM_PERM, SEED, SCHEME): drawn once, not per prompt (most of a
# signature's cost in a labelling batch).
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def signature(text: str) -> bytes:
    """The prompt's MinHash as bytes (NUM_PERM uint32 values of the affine32 scheme), for ``PromptLabel.signature``."""
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, permutations=_PERMUTATIONS)
    minhash.update_batch([gram.encode("utf-8") for gram in shingles(text)])
    return np.asarray(minhash.hashvalues, dtype=np.uint32).tobytes()


def _lean(raw: bytes) -> LeanMinHash:
    return LeanMinHash(seed=SEED, hashvalues=np.frombuffer(raw, dtype=np.uint32), scheme=SCHEME)


def clusters(signatures: dict) -> list[list]:
    """Groups of keys (of two or more) whose prompts are near-duplicates; singletons are left out."""
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    hashes = {key: _lean(raw) for key, raw in signatures.items() if raw}
    for key, minhash in hashes.items():
        lsh.insert(key, minhash)
    parent = {key: key for key in hashes}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, minhash in hashes.items():
        for other in lsh.query(minhash):
            if other != key and minhash.jaccard(hashes[other]) >= THRESHOLD:
                parent[root(other)] = root(key)
    groups: dict = {}
    for key in hashes:
        groups.setdefault(root(key), []).append(key)
    return [members for members in groups.values() if len(members) > 1]

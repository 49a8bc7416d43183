"""The lexical part of search: which items hold the query's rarer words."""

from __future__ import annotations

import math
from collections import defaultdict

from semrec.online.catalog import STOPWORDS, Catalog, words

COMMON = 2000  # a word shared by more items than this says little about what is wanted


def lexical(catalog: Catalog, query: str) -> dict[int, float]:
    """Share of the query's (IDF-weighted) words an item contains, for items matching a rare word."""
    terms = [w for w in dict.fromkeys(words(query)) if w not in STOPWORDS]
    if not terms:
        return {}
    total = catalog.rows or 1
    idf = {w: math.log(1 + total / (1 + len(catalog.words.get(w, ())))) for w in terms}
    norm = sum(idf.values())
    scores: defaultdict[int, float] = defaultdict(float)
    for word in terms:
        matches = catalog.words.get(word, set())
        if 0 < len(matches) <= COMMON:
            for row in matches:
                scores[row] += idf[word] / norm
    return dict(scores)

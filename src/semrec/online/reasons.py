"""Why an item is in an answer, in words a shopper reads."""

from __future__ import annotations

import numpy as np

from semrec.data.words import STOPWORDS, words
from semrec.online.catalog import Catalog
from semrec.schema import Scored

VERBS = {
    "view": "viewed",
    "click": "clicked",
    "cart": "added to cart",
    "purchase": "bought",
    "rating": "rated",
}


def explain(catalog: Catalog, results: list[Scored], kinds: dict[int, str], history: list[int]) -> None:
    """'because you viewed X': the history row closest to each recommendation (``kinds``: the latest
    event type per history row)."""
    if not results:
        return
    rows = np.array(history)
    unit_results = catalog.unit_rec([r.row for r in results])
    closest = (unit_results @ catalog.unit_rec(rows).T).argmax(axis=1)
    for result, source in zip(results, rows[closest].tolist(), strict=True):
        verb = VERBS.get(kinds.get(source, "view"), "viewed")
        result.reason = f"because you {verb} {catalog.meta[source].title}"


def match_reason(query: str, title: str) -> str:
    shared = [w for w in dict.fromkeys(words(query)) if w in set(words(title)) and w not in STOPWORDS]
    return f"matches {', '.join(shared[:3])}" if shared else "similar in meaning"

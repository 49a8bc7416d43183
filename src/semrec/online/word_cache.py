"""The title-word affinity term as the server computes it over a shortlist: each text's word vector
found once and kept (least recently used first out past ``WORD_CACHE``), so catalog edits cannot grow
the cache without bound and no product's words are re-read per request."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from semrec.models.words import WordVectors, word_affinity

WORD_CACHE = 200_000  # texts whose word vectors the server keeps (a few KB each at most)


class ServedWords:
    """The trained vocabulary (:class:`~semrec.models.words.WordVectors`) with a bounded cache of
    word vectors, keyed by each text's :func:`~semrec.data.text.word_text`."""

    def __init__(self, words: WordVectors) -> None:
        self.words = words
        self._rows: OrderedDict[str, sp.csr_matrix] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def cached(self) -> list[str]:
        """The texts held, least recently used first."""
        return list(self._rows)

    def rows(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(len(texts), vocabulary) the unit word vectors of ``texts``, from the cache where it has them."""
        wanted = list(dict.fromkeys(texts))
        missing = [t for t in wanted if t not in self._rows]
        found = dict(zip(missing, self.words.transform(missing), strict=True)) if missing else {}
        for text in wanted:
            row = found.get(text)
            if row is None:
                self._rows.move_to_end(text)
            else:
                self._rows[text] = row
        out = sp.vstack([self._rows[t] for t in texts], format="csr")
        while len(self._rows) > WORD_CACHE:
            self._rows.popitem(last=False)
        return out

    def affinity(self, history: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """The title-word affinity (:func:`semrec.models.words.word_affinity`) of each of the
        ``candidates`` to the shopper's ``history`` (oldest first), with the term's own decay."""
        rows = self.rows([*history, *candidates])
        n = len(history)
        return word_affinity([np.arange(n)], rows, self.words.decay, rows[n:])[0]

    def cosines(self, candidates: Sequence[str], recent: Sequence[str]) -> np.ndarray:
        """(len(candidates), len(recent)) the cosines of the candidates' title words to those of the
        shopper's ``recent`` items (the ranking stage's word features)."""
        rows = self.rows([*candidates, *recent])
        n = len(candidates)
        return np.asarray((rows[:n] @ rows[n:].T).todense(), dtype=np.float32)

"""The recommendation pipeline: shopper state -> query vector -> nearest neighbours -> filters ->
business rules and MMR re-ranking -> answer, plus similar items, search and profiles (the writes:
:mod:`semrec.online.writes`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from semrec.data.text import listed_words
from semrec.errors import ApiError
from semrec.feedback.influence import Influence
from semrec.models.exposure import DEPTH as EXPOSURE_DEPTH
from semrec.models.exposure import ExposureLedger
from semrec.models.ranker import RECENT
from semrec.online.ads import CampaignBook, Head
from semrec.online.index import VectorIndex
from semrec.online.policy import ItemPolicy
from semrec.online.profile import profile
from semrec.online.ranking_stage import rank_shortlist
from semrec.online.reasons import explain, match_reason
from semrec.online.rerank import rerank
from semrec.online.retrieve import Acceptor, acceptor, candidates
from semrec.online.runtime import ModelRuntime
from semrec.online.search import lexical as lexical_scores
from semrec.online.seed import build_catalog
from semrec.online.shopper_cache import ShopperCache
from semrec.online.threads import one_thread_here
from semrec.online.writes import Writes
from semrec.pseudonyms import pseudonym
from semrec.schema import Event, Scored
from semrec.settings import ServerSettings
from semrec.store.protocol import Store


class Engine(Writes):
    """One model version with its catalog and indexes. Swapped whole on reload.

    Writes go to the store first; the engine then applies them (and any other process's) from the
    store's change log in commit order (:meth:`catch_up`), so several worker processes over one
    database converge on the same catalog.
    """

    def __init__(self, settings: ServerSettings, store: Store, runtime: ModelRuntime, secret: bytes) -> None:
        """Over a store made ready by :func:`~semrec.online.seed.prepare_store` (which returns the
        pseudonym ``secret``): building an engine writes nothing of its own."""
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self._secret = secret
        # read before the catalog: whatever commits later is replayed on it (replays are idempotent)
        self._applied_change = store.last_change()
        self._applied_event = store.last_event()
        # which later events move shared counts (a process counts its windows from its start)
        self.influence = Influence(settings.influence)
        self._catch_up_lock = threading.Lock()
        # set when the change log no longer holds what this engine missed: it must be rebuilt
        self.outdated = False
        self._indexes: dict[str, VectorIndex] = {}
        self._index_lock = threading.Lock()
        self._popular_cache: tuple[float, np.ndarray] | None = None
        # a query vector depends only on the history rows (a row's vector never changes)
        self._queries: ShopperCache[np.ndarray] = ShopperCache(settings.query_cache_size)
        # a list depends on the history of (row, event type), the request and the catalog version
        # (the list, and the ranking stage's scored candidates the ads are chosen from)
        self._answers: ShopperCache[tuple[list[Scored], Head | None]] = ShopperCache(
            settings.answer_cache_size
        )
        self.catalog = build_catalog(store, runtime, settings.rules, ItemPolicy.from_settings(settings))
        self.campaigns = CampaignBook(store)
        # what this process's lists have shown, for exposure_boost (a reload starts afresh)
        self.exposure = ExposureLedger(self.catalog.rows, settings.exposure_half_life)

    # set-up
    @property
    def secret(self) -> bytes:
        """The server's secret (kept in the database): pseudonyms, A/B buckets and request ids."""
        return self._secret

    def user_key(self, user_id: str) -> str:
        """The pseudonym a shopper is stored under (raw ids are never written)."""
        return pseudonym(self._secret, user_id)

    def _index(self, name: str) -> VectorIndex:
        """The 'rec' (inner product), 'sim' (cosine of rec vectors) or 'text' index, built on first use."""
        if self.runtime.name == "text-zeroshot":
            name = "rec"  # unit text vectors: all three are the same index
        index = self._indexes.get(name)
        if index is not None:
            return index
        with self._index_lock:
            if name not in self._indexes:
                built = VectorIndex(
                    (self.catalog.text if self._reads_text(name) else self.catalog.rec).array.shape[1],
                    self.settings.index,
                    self.settings.hnsw_m,
                    self.settings.hnsw_ef_construction,
                    self.settings.hnsw_ef_search,
                    self.settings.ivf_nprobe,
                )
                with self.catalog.lock:
                    built.add(self._matrix(name))
                    self._indexes[name] = built
            return self._indexes[name]

    def build_indexes(self) -> None:
        for name in ("rec", "sim", "text"):
            self._index(name)

    def _reads_text(self, name: str) -> bool:
        return name == "text" or (self.runtime.name == "text-zeroshot" and name != "rec")

    def _matrix(self, name: str, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        if self._reads_text(name):
            return self.catalog.text.array[rows]
        return self.catalog.unit_rec(rows) if name == "sim" else self.catalog.rec.array[rows]

    # retrieval
    def _candidates(
        self, name: str, query: np.ndarray, k: int, accept: Acceptor, excluded: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` accepted (rows, scores) from index ``name``, best first."""

        def vectors(rows: np.ndarray) -> np.ndarray:
            return self._matrix(name, rows)

        return candidates(self._index(name), vectors, query, k, accept, excluded)

    def _acceptor(
        self, exclude: set[int], category: str | None, need_vector: bool, verified: bool = False
    ) -> Acceptor:
        return acceptor(self.catalog, exclude, category, need_vector, verified)

    # answers
    def query(self, user: str, rows: list[int]) -> np.ndarray:
        """The query vector of shopper ``user`` (a pseudonym) for these history rows, computed once
        per distinct history."""
        history = tuple(rows)
        vector = self._queries.get(user, history)
        if vector is None:
            vector = self.runtime.queries([np.array(rows)], self.catalog.rec.array)[0]
            self._queries.put(user, history, vector)
        return vector

    def history(self, user_id: str) -> list[Event]:
        return self._events(self.user_key(user_id))

    def _events(self, user: str) -> list[Event]:
        return self.store.recent_events(user, self.settings.history_length)

    def recommend(
        self,
        user_id: str,
        k: int,
        exclude_seen: bool = True,
        category: str | None = None,
        verified: bool = False,
    ) -> tuple[list[Scored], bool]:
        """(items, personal?) for a shopper; unknown shoppers get the popular list. Age-restricted
        items only for a ``verified`` adult."""
        results, personal, _ = self.recommend_with_head(user_id, k, exclude_seen, category, verified)
        return results, personal

    def recommend_with_head(
        self,
        user_id: str,
        k: int,
        exclude_seen: bool = True,
        category: str | None = None,
        verified: bool = False,
    ) -> tuple[list[Scored], bool, Head | None]:
        """:meth:`recommend` and the ranking stage's scored candidates behind the list (None for
        the popular list or without a ranking stage)."""
        one_thread_here(self.settings.torch_threads)
        user = self.user_key(user_id)
        events = self._events(user)
        catalog = self.catalog
        rows = [catalog.live_row(e.item_id) for e in events]
        seen = {r for r in rows if r is not None} if exclude_seen else set()
        usable = [r for r in rows if r is not None and catalog.recommendable[r]]
        if not usable:
            return self.popular(k, seen, category, verified), False, None
        inputs = (
            tuple((row, e.type) for row, e in zip(rows, events, strict=True)),
            k,
            exclude_seen,
            category,
            verified,
            catalog.version,
        )
        answer = self._answers.get(user, inputs)
        if answer is None:
            kinds = {row: e.type for row, e in zip(rows, events, strict=True) if row is not None}
            answer = self._personal(user, k, category, kinds, seen, usable, verified)
            self._answers.put(user, inputs, answer)
        return list(answer[0]), True, answer[1]

    def _personal(
        self,
        user: str,
        k: int,
        category: str | None,
        kinds: dict[int, str],
        seen: set[int],
        usable: list[int],
        verified: bool = False,
    ) -> tuple[list[Scored], Head | None]:
        """``kinds``: the latest event type per history row."""
        candidates, scores = self.shortlist(user, k, category, seen, usable, verified)
        head = None
        if self.runtime.ranker is not None and self.runtime.rescores:
            n = min(self.runtime.ranker.n_candidates, len(candidates))  # those it gave a probability
            new = self.runtime.new(self.catalog.trained[candidates[:n]])
            head = Head(candidates[:n], self.runtime.ranker.unshifted(scores[:n], new))
        boost = self.settings.exposure_boost
        exposure = self.exposure.scale(candidates) if boost > 0 else None
        chosen, relevance = rerank(
            self.catalog, candidates, scores, k, self.settings.diversity, boost, exposure
        )
        if boost > 0:
            self.exposure.record(candidates[chosen])
        results = [
            Scored(r, s) for r, s in zip(candidates[chosen].tolist(), relevance[chosen].tolist(), strict=True)
        ]
        explain(self.catalog, results, kinds, usable[-self.settings.history_length :])
        return results, head

    def shortlist(
        self,
        user: str,
        k: int,
        category: str | None,
        seen: set[int],
        usable: list[int],
        verified: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(catalog rows, scores) of the candidates for a list of ``k``, best first: the network's
        shortlist (and the text taste's), scored as the offline model scores them."""
        catalog = self.catalog
        query = self.query(user, usable)
        pool = k
        if self.settings.diversity > 0:
            pool = 3 * k + 10
        if self.settings.exposure_boost > 0:  # re-ranked from as many candidates as offline
            pool = max(pool, EXPOSURE_DEPTH)
        runtime = self.runtime
        if runtime.rescores:
            pool = max(pool, 2 * k + 30)  # the extra terms may lift items the network ranks lower
        if runtime.ranker is not None:  # the ranker re-scores the blend's best n of these
            pool = max(pool, 2 * runtime.ranker.n_candidates)
        pool = min(catalog.rows, pool)
        accept = self._acceptor(seen, category, True, verified)
        candidates, scores = self._candidates("rec", query, pool, accept, excluded=len(seen))
        affinity = None
        if runtime.uses_text:
            taste = runtime.taste(catalog.text.array[usable])
            if self.settings.text_shortlist:  # the items closest to the text taste join the shortlist
                close, _ = self._candidates("text", taste, pool, accept, excluded=len(seen))
                candidates = np.union1d(candidates, close)
            affinity = catalog.text.array[candidates] @ taste
        words = None
        if runtime.words is not None:  # each product's words once, for the blend and the ranker alike
            history_words = [listed_words(catalog.meta[r]) for r in usable]
            candidate_words = [listed_words(catalog.meta[r]) for r in candidates]
            words = runtime.words.affinity(history_words, candidate_words)
        if runtime.rescores and len(candidates):
            # exact network logits (the index may answer from compressed vectors), then the blend
            scores = catalog.rec.array[candidates] @ query
            trained, history = catalog.trained[candidates], catalog.trained[usable]
            text = catalog.text.array[candidates]
            parts = runtime.score_parts(history, trained, scores, affinity, text, words)
            scores = runtime.blend(parts)
            order = np.argsort(-scores, kind="stable")
            candidates, scores = candidates[order], scores[order]
            if runtime.ranker is not None:
                last = np.asarray(usable[-RECENT:], dtype=np.int64)[::-1]  # most recent first
                recent = catalog.text.array[last]
                sorted_parts = {name: part[order] for name, part in parts.items()}
                word_cosines = None
                if runtime.words is not None:
                    head = order[: runtime.ranker.n_candidates]
                    word_cosines = runtime.words.cosines(
                        [candidate_words[i] for i in head], history_words[-RECENT:][::-1]
                    )
                moved, scores = rank_shortlist(
                    runtime.ranker,
                    runtime.model.counts,
                    runtime.prior,
                    history,
                    trained[order],
                    sorted_parts,
                    scores,
                    text[order],
                    recent,
                    word_cosines,
                )
                candidates = candidates[moved]
        return candidates, scores

    def popular(
        self, k: int, exclude: set[int], category: str | None, verified: bool = False
    ) -> list[Scored]:
        now = time.monotonic()
        if self._popular_cache is None or now - self._popular_cache[0] > 1.0:
            n = self.catalog.rows  # read first: every per-row array already covers these rows
            order = np.argsort(-(self.catalog.popularity[:n] + self.catalog.bonus[:n]), kind="stable")
            self._popular_cache = (now, order)
        order = self._popular_cache[1]
        accept = self._acceptor(exclude, category, False, verified)
        out: list[Scored] = []
        for start in range(0, len(order), 256):
            chunk = order[start : start + 256]
            chunk = chunk[chunk < self.catalog.rows]
            for row in chunk[accept(chunk)]:
                out.append(Scored(int(row), float(self.catalog.popularity[row]), "popular in this shop"))
                if len(out) == k:
                    return out
        return out

    def similar(self, item_id: str, k: int, verified: bool = False) -> list[Scored]:
        one_thread_here(self.settings.torch_threads)
        row = self.catalog.live_row(item_id)
        if row is None:
            raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        meta = self.catalog.meta[row]
        name = "sim" if self.catalog.recommendable[row] else "text"
        query = self._matrix(name, np.array([row]))[0]
        rows, scores = self._candidates(name, query, k, self._acceptor({row}, None, False, verified))
        return [
            Scored(int(r), float(s), f"similar to {meta.title}") for r, s in zip(rows, scores, strict=True)
        ]

    def search(self, query: str, k: int, user_id: str | None = None, verified: bool = False) -> list[Scored]:
        one_thread_here(self.settings.torch_threads)
        catalog = self.catalog
        vector = self.runtime.encode_query(query)
        accept = self._acceptor(set(), None, False, verified)
        rows, scores = self._candidates("text", vector, max(3 * k, 50), accept)
        combined: dict[int, float] = {int(r): float(s) for r, s in zip(rows, scores, strict=True)}
        lexical = lexical_scores(self.store, catalog, query)
        extra = np.array([r for r in lexical if r not in combined], dtype=np.int64)
        if len(extra):
            extra = extra[accept(extra)]
            for row, score in zip(extra, self._matrix("text", extra) @ vector, strict=True):
                combined[int(row)] = float(score)
        weight = self.settings.search_lexical_weight
        final = {row: score + weight * lexical.get(row, 0.0) for row, score in combined.items()}
        if user_id is not None:
            user = self.user_key(user_id)
            usable = [r for e in self._events(user) if (r := catalog.live_row(e.item_id)) is not None]
            usable = [r for r in usable if catalog.recommendable[r]]
            if usable:
                vector = self.query(user, usable)
                taste = (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
                candidates = np.fromiter(final, dtype=np.int64)
                affinity = catalog.unit_rec(candidates) @ taste
                share = self.settings.search_user_weight
                for row, value in zip(candidates, affinity, strict=True):
                    final[int(row)] = (1 - share) * final[int(row)] + share * float(value)
        best = sorted(final.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
        return [Scored(row, score, match_reason(query, catalog.meta[row].title)) for row, score in best]

    def profile(self, user_id: str) -> dict[str, Any]:
        events = self.store.recent_events(self.user_key(user_id), max(200, self.settings.history_length))
        return profile(user_id, events, self.catalog)

"""The recommendation pipeline: shopper state -> query vector -> nearest neighbours -> filters ->
business rules and MMR re-ranking -> answer, plus similar items, search, profiles and writes."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from semrec.api.errors import ApiError
from semrec.api.settings import ServerSettings
from semrec.data.text import item_text
from semrec.online.catalog import Catalog, GrowingMatrix, ItemMeta, category_parts, words
from semrec.online.index import VectorIndex
from semrec.online.runtime import ModelRuntime
from semrec.online.shopper_cache import ShopperCache
from semrec.online.threads import one_thread_here
from semrec.store.sqlite import Change, ChangeLogPruned, Event, ItemRecord, Store

VERBS = {
    "view": "viewed",
    "click": "clicked",
    "cart": "added to cart",
    "purchase": "bought",
    "rating": "rated",
}
STOPWORDS = set(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "oz",
        "ml",
        "fl",
        "pack",
        "set",
        "pcs",
        "pc",
        "new",
        "x",
    ]
)
EXACT_FALLBACK = 4096  # past this many candidates, filter the whole catalog exactly instead


@dataclass
class Scored:
    row: int
    score: float
    reason: str | None = None


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class Engine:
    """One model version with its catalog and indexes. Swapped whole on reload.

    Writes go to the store first; the engine then applies them (and any other process's) from the
    store's change log in commit order (:meth:`catch_up`), so several worker processes over one
    database converge on the same catalog.
    """

    def __init__(self, settings: ServerSettings, store: Store, runtime: ModelRuntime) -> None:
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self._secret = self._pseudonym_secret()
        # read before the catalog: whatever commits later is replayed on it (replays are idempotent)
        self._applied_change = store.last_change()
        self._applied_event = store.last_event()
        self._catch_up_lock = threading.Lock()
        # set when the change log no longer holds what this engine missed: it must be rebuilt
        self.outdated = False
        self._indexes: dict[str, VectorIndex] = {}
        self._index_lock = threading.Lock()
        self._popular_cache: tuple[float, np.ndarray] | None = None
        # a query vector depends only on the history rows (a row's vector never changes)
        self._queries: ShopperCache[np.ndarray] = ShopperCache(settings.query_cache_size)
        # a list depends on the history of (row, event type), the request and the catalog version
        self._answers: ShopperCache[list[Scored]] = ShopperCache(settings.answer_cache_size)
        self.catalog = self._build_catalog()

    # set-up
    def _pseudonym_secret(self) -> bytes:
        if self.settings.pseudonym_secret is not None:
            return self.settings.pseudonym_secret.get_secret_value().encode()
        return self.store.setdefault_meta("pseudonym_secret", secrets.token_hex(32)).encode()

    def user_key(self, user_id: str) -> str:
        """The pseudonym a shopper is stored under (raw ids are never written)."""
        return hmac.new(self._secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]

    def _seed_store(self) -> None:
        """Puts the model's catalog into the store, except items deleted or already there."""
        known = self.store.known_item_ids()
        records = []
        for raw in self.runtime.catalog.to_dict("records"):
            row = {str(k): v for k, v in raw.items()}
            item_id = str(row["item_id"])
            if item_id in known:  # a shortcut only: seed_items checks again inside its transaction
                continue
            records.append(
                ItemRecord(
                    item_id=item_id,
                    title=str(row.get("title") or ""),
                    text=item_text(row),
                    category=_text(row.get("categories") or row.get("category")),
                    brand=_text(row.get("brand")),
                    price=_number(row.get("price")),
                )
            )
        if records:
            self.store.seed_items(records)

    def _build_catalog(self) -> Catalog:
        runtime = self.runtime
        self._seed_store()
        trained = runtime.index_of
        records = self.store.all_items()
        fingerprint = runtime.encoder.fingerprint()
        stale = [r for r in records if r.item_id not in trained or r.vector is not None]
        stale = [r for r in stale if r.vector is None or r.vector_key != fingerprint]
        if stale:  # items added through the API, embedded by another encoder: embed them again
            vectors = runtime.encode([r.text for r in stale])
            for record, vector in zip(stale, vectors, strict=True):
                record.vector, record.vector_key = vector, fingerprint
            self.store.set_vectors(stale)  # same items, this encoder's vectors
        n = len(records)
        rec = np.zeros((n, runtime.dim), dtype=np.float32)
        text = np.zeros((n, runtime.text_vectors.shape[1]), dtype=np.float32)
        popularity = np.zeros(n)
        metas = []
        new_rows, new_text = [], []
        for row, record in enumerate(records):
            index = trained.get(record.item_id)
            if index is not None:
                rec[row] = runtime.item_vectors[index]
                text[row] = record.vector if record.vector is not None else runtime.text_vectors[index]
                popularity[row] = runtime.popularity[index]
            else:
                assert record.vector is not None
                text[row] = record.vector
                new_rows.append(row)
                new_text.append(record.vector)
            metas.append(_meta(record, True, -1 if index is None else index))
        if new_rows:
            adapted = runtime.adapt(np.stack(new_text))
            for j, row in enumerate(new_rows):
                if adapted is None:
                    metas[row].recommendable = False
                else:
                    rec[row] = adapted[j]
        catalog = Catalog(
            rec=GrowingMatrix(np.zeros((0, runtime.dim))),
            text=GrowingMatrix(np.zeros((0, text.shape[1]))),
            meta=[],
            alive=np.zeros(0, dtype=bool),
            bonus=np.zeros(0),
            popularity=np.zeros(0),
            rules=list(self.settings.rules),
        )
        catalog.append(metas, rec, text, popularity)
        return catalog

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
        self,
        name: str,
        query: np.ndarray,
        k: int,
        accept: Callable[[np.ndarray], np.ndarray],
        excluded: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` accepted (rows, scores), best first: ANN first, widened, then exact if needed."""
        index = self._index(name)
        total = len(index)
        # HNSW costs grow with the list asked for: ask for what the filters are likely to leave
        fetch = min(total, k + excluded + 16)
        while fetch <= EXACT_FALLBACK:
            scores, rows = index.search(query, fetch)
            scores, rows = scores[0], rows[0]
            found = rows >= 0
            scores, rows = scores[found], rows[found]
            ok = accept(rows)
            if ok.sum() >= k or fetch >= total:
                # exact scores from the float vectors: compressed indexes only shortlist
                rows = rows[ok]
                exact = self._matrix(name, rows) @ query.astype(np.float32)
                order = np.argsort(-exact, kind="stable")[:k]
                return rows[order], exact[order]
            fetch = min(total, fetch * 8)
        rows = np.arange(total)
        rows = rows[accept(rows)]
        scores = self._matrix(name, rows) @ query.astype(np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return rows[best], scores[best]

    def _acceptor(
        self, exclude: set[int], category: str | None, need_vector: bool
    ) -> Callable[[np.ndarray], np.ndarray]:
        catalog = self.catalog
        excluded = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
        wanted = category.strip().lower() if category else None

        def accept(rows: np.ndarray) -> np.ndarray:
            # the masks are read after the index answered: they already cover every row it knows
            ok = catalog.alive[rows]
            if len(excluded):  # a few dozen rows against a few dozen: one comparison table
                ok &= (rows[:, None] != excluded[None, :]).all(axis=1)
            if need_vector:
                ok &= catalog.recommendable[rows]
            if wanted is not None:
                for i in np.flatnonzero(ok):
                    if wanted not in category_parts(catalog.meta[rows[i]].category):
                        ok[i] = False
            return ok

        return accept

    def _rerank(
        self, rows: np.ndarray, scores: np.ndarray, k: int, diversity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(positions into ``rows`` best first, relevance of every row): business rules, then maximal
        marginal relevance over the pool."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        spread = float(scores.max() - scores.min())
        relevance = (scores - scores.min()) / spread if spread > 0 else np.ones(len(rows))
        relevance = relevance + self.catalog.bonus[rows]
        if diversity <= 0 or len(rows) <= 1:
            return np.argsort(-relevance, kind="stable")[:k], relevance
        unit = self.catalog.unit_rec(rows)
        # value of each candidate = (1 - d) * relevance - d * (similarity to the closest item chosen)
        penalty = diversity * (unit @ unit.T)
        value = (1 - diversity) * relevance
        pick = int(value.argmax())
        chosen = [pick]
        value[pick] = -np.inf  # each candidate is chosen once
        closest = penalty[pick].copy()
        for _ in range(min(k, len(rows)) - 1):
            pick = int((value - closest).argmax())
            chosen.append(pick)
            value[pick] = -np.inf
            np.maximum(closest, penalty[pick], out=closest)
        return np.array(chosen), relevance

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
        self, user_id: str, k: int, exclude_seen: bool = True, category: str | None = None
    ) -> tuple[list[Scored], bool]:
        """(items, personal?) for a shopper; unknown shoppers get the popular list."""
        one_thread_here(self.settings.torch_threads)
        user = self.user_key(user_id)
        events = self._events(user)
        catalog = self.catalog
        rows = [catalog.live_row(e.item_id) for e in events]
        seen = {r for r in rows if r is not None} if exclude_seen else set()
        usable = [r for r in rows if r is not None and catalog.meta[r].recommendable]
        if not usable:
            return self.popular(k, seen, category), False
        inputs = (
            tuple((row, e.type) for row, e in zip(rows, events, strict=True)),
            k,
            exclude_seen,
            category,
            catalog.version,
        )
        results = self._answers.get(user, inputs)
        if results is None:
            kinds = {row: e.type for row, e in zip(rows, events, strict=True) if row is not None}
            results = self._personal(user, k, category, kinds, seen, usable)
            self._answers.put(user, inputs, results)
        return list(results), True

    def _personal(
        self,
        user: str,
        k: int,
        category: str | None,
        kinds: dict[int, str],
        seen: set[int],
        usable: list[int],
    ) -> list[Scored]:
        """``kinds``: the latest event type per history row."""
        candidates, scores = self.shortlist(user, k, category, seen, usable)
        chosen, relevance = self._rerank(candidates, scores, k, self.settings.diversity)
        results = [
            Scored(r, s) for r, s in zip(candidates[chosen].tolist(), relevance[chosen].tolist(), strict=True)
        ]
        self._explain(results, kinds, usable)
        return results

    def shortlist(
        self, user: str, k: int, category: str | None, seen: set[int], usable: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(catalog rows, scores) of the candidates for a list of ``k``, best first: the network's
        shortlist (and the text taste's), scored as the offline model scores them."""
        catalog = self.catalog
        query = self.query(user, usable)
        pool = k
        if self.settings.diversity > 0:
            pool = 3 * k + 10
        runtime = self.runtime
        if runtime.rescores:
            pool = max(pool, 2 * k + 30)  # the extra terms may lift items the network ranks lower
        pool = min(catalog.rows, pool)
        accept = self._acceptor(seen, category, True)
        candidates, scores = self._candidates("rec", query, pool, accept, excluded=len(seen))
        affinity = None
        if runtime.text_weight > 0:
            taste = runtime.taste(catalog.text.array[usable])
            if self.settings.text_shortlist:  # the items closest to the text taste join the shortlist
                close, _ = self._candidates("text", taste, pool, accept, excluded=len(seen))
                candidates = np.union1d(candidates, close)
            affinity = catalog.text.array[candidates] @ taste
        if runtime.rescores and len(candidates):
            # exact network logits (the index may answer from compressed vectors), then the blend
            scores = catalog.rec.array[candidates] @ query
            trained, history = catalog.trained[candidates], catalog.trained[usable]
            text = catalog.text.array[candidates]
            scores = runtime.rescore(history, trained, scores, affinity, text)
            order = np.argsort(-scores, kind="stable")
            candidates, scores = candidates[order], scores[order]
        return candidates, scores

    def popular(self, k: int, exclude: set[int], category: str | None) -> list[Scored]:
        now = time.monotonic()
        if self._popular_cache is None or now - self._popular_cache[0] > 1.0:
            n = self.catalog.rows  # read first: every per-row array already covers these rows
            order = np.argsort(-(self.catalog.popularity[:n] + self.catalog.bonus[:n]), kind="stable")
            self._popular_cache = (now, order)
        order = self._popular_cache[1]
        accept = self._acceptor(exclude, category, False)
        out: list[Scored] = []
        for start in range(0, len(order), 256):
            chunk = order[start : start + 256]
            chunk = chunk[chunk < self.catalog.rows]
            for row in chunk[accept(chunk)]:
                out.append(Scored(int(row), float(self.catalog.popularity[row]), "popular in this shop"))
                if len(out) == k:
                    return out
        return out

    def _explain(self, results: list[Scored], kinds: dict[int, str], usable: list[int]) -> None:
        """'because you viewed X': the history item closest to each recommendation."""
        catalog = self.catalog
        history = np.array(usable[-self.settings.history_length :])
        if not results:
            return
        unit_results = catalog.unit_rec([r.row for r in results])
        closest = (unit_results @ catalog.unit_rec(history).T).argmax(axis=1)
        for result, source in zip(results, history[closest].tolist(), strict=True):
            verb = VERBS.get(kinds.get(source, "view"), "viewed")
            result.reason = f"because you {verb} {catalog.meta[source].title}"

    def similar(self, item_id: str, k: int) -> list[Scored]:
        one_thread_here(self.settings.torch_threads)
        row = self.catalog.live_row(item_id)
        if row is None:
            raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        meta = self.catalog.meta[row]
        name = "sim" if meta.recommendable else "text"
        query = self._matrix(name, np.array([row]))[0]
        rows, scores = self._candidates(name, query, k, self._acceptor({row}, None, False))
        return [
            Scored(int(r), float(s), f"similar to {meta.title}") for r, s in zip(rows, scores, strict=True)
        ]

    def search(self, query: str, k: int, user_id: str | None = None) -> list[Scored]:
        one_thread_here(self.settings.torch_threads)
        catalog = self.catalog
        vector = self.runtime.encode([query])[0]
        accept = self._acceptor(set(), None, False)
        rows, scores = self._candidates("text", vector, max(3 * k, 50), accept)
        combined: dict[int, float] = {int(r): float(s) for r, s in zip(rows, scores, strict=True)}
        lexical = self._lexical(query)
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
            usable = [r for r in usable if catalog.meta[r].recommendable]
            if usable:
                taste = _normalise(self.query(user, usable)[None])[0]
                candidates = np.fromiter(final, dtype=np.int64)
                affinity = catalog.unit_rec(candidates) @ taste
                share = self.settings.search_user_weight
                for row, value in zip(candidates, affinity, strict=True):
                    final[int(row)] = (1 - share) * final[int(row)] + share * float(value)
        best = sorted(final.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
        return [Scored(row, score, _match_reason(query, catalog.meta[row].title)) for row, score in best]

    def _lexical(self, query: str) -> dict[int, float]:
        """Share of the query's (IDF-weighted) words an item contains, for items matching a rare word."""
        catalog = self.catalog
        terms = [w for w in dict.fromkeys(words(query)) if w not in STOPWORDS]
        if not terms:
            return {}
        total = catalog.rows or 1
        idf = {w: math.log(1 + total / (1 + len(catalog.words.get(w, ())))) for w in terms}
        norm = sum(idf.values())
        scores: defaultdict[int, float] = defaultdict(float)
        for word in terms:
            matches = catalog.words.get(word, set())
            if 0 < len(matches) <= 2000:  # a word shared by thousands of items says little
                for row in matches:
                    scores[row] += idf[word] / norm
        return dict(scores)

    def profile(self, user_id: str) -> dict[str, Any]:
        events = self.store.recent_events(self.user_key(user_id), max(200, self.settings.history_length))
        catalog = self.catalog
        categories: defaultdict[str, float] = defaultdict(float)
        brands: defaultdict[str, float] = defaultdict(float)
        keywords: defaultdict[str, float] = defaultdict(float)
        for age, event in enumerate(reversed(events)):
            row = catalog.live_row(event.item_id)
            if row is None:
                continue
            meta = catalog.meta[row]
            weight = 0.9**age * (2.0 if event.type in ("cart", "purchase") else 1.0)
            for part in category_parts(meta.category)[-1:]:
                categories[part] += weight
            if meta.brand:
                brands[meta.brand] += weight
            for word in set(words(meta.title)):
                if len(word) > 2 and word not in STOPWORDS and not word.isdigit():
                    keywords[word] += weight
        recent = [
            {
                "item_id": e.item_id,
                "type": e.type,
                "timestamp": e.timestamp,
                "title": _title(catalog, e.item_id),
            }
            for e in reversed(events[-10:])
        ]
        return {
            "user_id": user_id,
            "events": len(events),
            "event_types": dict(Counter(e.type for e in events)),
            "top_categories": _strongest(categories, 5),
            "top_brands": _strongest(brands, 5),
            "keywords": _strongest(keywords, 8),
            "recent_items": recent,
        }

    # writes: to the store first, then applied here from the change log like any other worker's
    def record_events(self, events: list[Event]) -> int:
        stored = self.store.add_events(events)  # durable before we answer
        self.catch_up()
        return stored

    def upsert_item(self, record: ItemRecord) -> ItemMeta:
        one_thread_here(self.settings.torch_threads)
        record.text = record.text or item_text(
            {
                "item_id": record.item_id,
                "title": record.title,
                "brand": record.brand,
                "categories": record.category,
                "price": record.price,
                **record.attributes,
            }
        )
        record.vector = self.runtime.encode([record.text])[0]
        record.vector_key = self.runtime.encoder.fingerprint()
        self.store.upsert_items([record])
        self.catch_up()
        row = self.catalog.live_row(record.item_id)
        if row is None:  # deleted by another worker the moment after
            return _meta(record, False)
        return self.catalog.meta[row]

    def _place(self, record: ItemRecord) -> None:
        """A stored item into the catalog and indexes, from its stored text vector."""
        runtime = self.runtime
        vector = record.vector
        if vector is None or record.vector_key != runtime.encoder.fingerprint():
            vector = runtime.encode([record.text])[0]  # embedded by another model version
        text = vector[None, :].astype(np.float32)
        trained = runtime.index_of.get(record.item_id)
        adapted = runtime.item_vectors[[trained]] if trained is not None else runtime.adapt(text)
        meta = _meta(record, adapted is not None, -1 if trained is None else trained)
        rec = adapted if adapted is not None else np.zeros((1, runtime.dim), dtype=np.float32)
        self.add_to_catalog(meta, rec, text)

    def add_to_catalog(self, meta: ItemMeta, rec: np.ndarray, text: np.ndarray) -> int:
        """One item (its (1, dim) recommendation and text vectors) into the catalog and every index
        built so far; returns its row."""
        with self.catalog.lock:
            row = self.catalog.append([meta], rec, text, np.zeros(1))
            for name, index in self._indexes.items():
                index.add(self._matrix(name, np.array([row])))
        return row

    def delete_item(self, item_id: str) -> bool:
        if self.catalog.live_row(item_id) is None and self.store.get_item(item_id) is None:
            return False
        self.store.delete_item(item_id)
        self.catch_up()
        return True

    def delete_user(self, user_id: str) -> int:
        removed = self.store.delete_user(self.user_key(user_id))
        self.catch_up()
        return removed

    def catch_up(self) -> None:
        """Applies the writes committed since this engine last looked, by this process or another
        one on the same database: items upserted or deleted, erasures, and event counts."""
        with self._catch_up_lock:
            try:
                changes = self.store.changes_since(self._applied_change)
            except ChangeLogPruned:
                self.outdated = True  # the follower rebuilds this worker's engine from the store
                return
            # an item's last change in the batch reads its current row: earlier ones add nothing
            last = {c.key: c.seq for c in changes if c.kind in ("item", "delete")}
            for change in changes:
                if change.kind not in ("item", "delete") or last[change.key] == change.seq:
                    self._apply(change)
                self._applied_change = change.seq
            events = self.store.events_since(self._applied_event)
            if events:
                self.catalog.count_events([item_id for _, item_id in events])
                self._applied_event = events[-1][0]

    @property
    def applied_change(self) -> int:
        """The last change-log entry this engine reflects."""
        return self._applied_change

    def _apply(self, change: Change) -> None:
        if change.kind == "item":
            record = self.store.get_item(change.key)
            if record is not None:  # else deleted since: a later change removes it
                self._place(record)
        elif change.kind == "delete":
            self.catalog.remove(change.key)
        elif change.kind == "erase":
            # the change does not say whose data went, so no cached answer of anyone survives it
            self._queries.clear()
            self._answers.clear()
        # "reload" swaps engines, which the app does (semrec.store.follower)

    def item_json(self, row: int) -> dict[str, Any]:
        meta = self.catalog.meta[row]
        return {
            "item_id": meta.item_id,
            "title": meta.title,
            "category": meta.category or None,
            "brand": meta.brand or None,
            "price": meta.price,
        }


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _meta(record: ItemRecord, recommendable: bool, trained: int = -1) -> ItemMeta:
    return ItemMeta(
        item_id=record.item_id,
        title=record.title or record.item_id,
        category=record.category,
        brand=record.brand,
        price=record.price,
        available=record.available,
        recommendable=recommendable,
        trained=trained,
    )


def _title(catalog: Catalog, item_id: str) -> str | None:
    row = catalog.live_row(item_id)
    return catalog.meta[row].title if row is not None else None


def _match_reason(query: str, title: str) -> str:
    shared = [w for w in dict.fromkeys(words(query)) if w in set(words(title)) and w not in STOPWORDS]
    return f"matches {', '.join(shared[:3])}" if shared else "similar in meaning"


def _strongest(weights: dict[str, float], n: int) -> list[str]:
    return [key for key, _ in sorted(weights.items(), key=lambda pair: (-pair[1], pair[0]))[:n]]

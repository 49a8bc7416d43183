"""A shopper's profile from their recent events: what they look at, which brands, which words."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from semrec.data.words import STOPWORDS, category_parts, words
from semrec.online.catalog import Catalog
from semrec.schema import Event

DECAY = 0.9  # weight per event back in time
STRONG = ("cart", "purchase")  # events that count twice


def profile(user_id: str, events: list[Event], catalog: Catalog) -> dict[str, Any]:
    """``events`` oldest first; categories, brands and title keywords weighted by recency."""
    categories: defaultdict[str, float] = defaultdict(float)
    brands: defaultdict[str, float] = defaultdict(float)
    keywords: defaultdict[str, float] = defaultdict(float)
    for age, event in enumerate(reversed(events)):
        row = catalog.live_row(event.item_id)
        if row is None:
            continue
        meta = catalog.meta[row]
        weight = DECAY**age * (2.0 if event.type in STRONG else 1.0)
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


def _title(catalog: Catalog, item_id: str) -> str | None:
    row = catalog.live_row(item_id)
    return catalog.meta[row].title if row is not None else None


def _strongest(weights: dict[str, float], n: int) -> list[str]:
    return [key for key, _ in sorted(weights.items(), key=lambda pair: (-pair[1], pair[0]))[:n]]

"""Words of product titles, queries and category paths, as search, rules and profiles read them."""

from __future__ import annotations

import re

COMMON_WORD_ITEMS = 2000  # search: a word of more items than this says little about what is wanted
WORD = re.compile(r"[\w\-]+", re.UNICODE)


# words too common in product titles to say what a shopper wants
STOPWORDS = frozenset(
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


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def category_parts(category: str) -> list[str]:
    return [p.strip().lower() for p in re.split(r"[>|/,]", category) if p.strip()]

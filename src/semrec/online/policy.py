"""What a shop must never show, and what only verified adults may see: one judgement per item,
made when the item enters the live catalog, read by the one filter every answer passes
(:func:`semrec.online.retrieve.acceptor`): recommendations, popular lists, similar products, search
results and sponsored slots alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from semrec.data.words import category_parts
from semrec.schema import Item
from semrec.settings import ServerSettings

RESTRICTED_ATTRIBUTE = "age_restricted"  # an item attribute: true marks the item for verified adults only


def _category(path: str) -> str:
    return " > ".join(category_parts(path))


def _words(words: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({w.strip().lower() for w in words if w.strip()})
    if not cleaned:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in cleaned) + r")\b")


@dataclass(frozen=True)
class ItemPolicy:
    blocked_items: frozenset[str] = frozenset()
    blocked_categories: frozenset[str] = frozenset()
    blocked_words: re.Pattern[str] | None = None
    restricted_categories: frozenset[str] = frozenset()
    restricted_words: re.Pattern[str] | None = None

    @classmethod
    def of(
        cls,
        blocked_items: Iterable[str] = (),
        blocked_categories: Iterable[str] = (),
        blocked_keywords: Iterable[str] = (),
        restricted_categories: Iterable[str] = (),
        restricted_keywords: Iterable[str] = (),
    ) -> ItemPolicy:
        return cls(
            frozenset(blocked_items),
            frozenset(_category(c) for c in blocked_categories if _category(c)),
            _words(blocked_keywords),
            frozenset(_category(c) for c in restricted_categories if _category(c)),
            _words(restricted_keywords),
        )

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ItemPolicy:
        """The shop's blocklists and age restrictions, from the server's settings."""
        return cls.of(
            settings.blocked_items,
            settings.blocked_categories,
            settings.blocked_keywords,
            settings.age_restricted_categories,
            settings.age_restricted_keywords,
        )

    def judge(self, item: Item) -> tuple[bool, bool]:
        """(blocked: never in an answer, restricted: only for shoppers verified as adults)."""
        parts = {*category_parts(item.category), _category(item.category)}  # a part, or the whole path
        text = " ".join((item.title, item.brand, item.category, item.text)).lower()
        blocked = (
            item.item_id in self.blocked_items
            or bool(parts & self.blocked_categories)
            or (self.blocked_words is not None and self.blocked_words.search(text) is not None)
        )
        flagged = item.attributes.get(RESTRICTED_ATTRIBUTE)
        restricted = (
            flagged is True
            or str(flagged).lower() == "true"
            or bool(parts & self.restricted_categories)
            or (self.restricted_words is not None and self.restricted_words.search(text) is not None)
        )
        return blocked, restricted

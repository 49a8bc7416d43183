"""The one function that turns a catalog row into the text a language model reads."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from semrec.schema import Item

_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]+>")
# (column, label) in the order the text shows them; the title leads and carries no label
_FIELDS = (("brand", "Brand"), ("categories", "Category"), ("category", "Category"), ("price", "Price"))


def _clean(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = html.unescape(html.unescape(str(value)))  # some titles are escaped twice (&amp;amp;)
    return _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()


def _format_price(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _clean(value)
    return f"{number:.2f}" if math.isfinite(number) else ""


def word_text(title: Any, brand: Any, item_id: Any) -> str:
    """What the title-word affinity term reads of an item: its title (its id when it has none) and
    its brand, as a catalog row and the server's listing of it both give them."""
    return " ".join(part for part in (_clean(title) or _clean(item_id), _clean(brand)) if part)


def listed_words(item: Item) -> str:
    """:func:`word_text` of an item as the live catalog lists it."""
    return word_text(item.title, item.brand, item.item_id)


def text_of(item: Item) -> str:
    """The text of an item given by its fields (added through the API), as :func:`item_text`
    builds it from a catalog row; its extra attributes (a description, ...) count as columns."""
    fields = {"item_id": item.item_id, "title": item.title, "brand": item.brand, "categories": item.category}
    return item_text({**fields, "price": item.price, **item.attributes})


def item_text(item: Mapping[str, Any], max_description_chars: int = 600) -> str:
    """Builds the text of one item: title, then brand, categories, price and description when present.

    HTML entities and tags are decoded away and whitespace collapsed. An item with no text at all
    gets its id, so every item has a non-empty text.
    """
    parts = [_clean(item.get("title"))]
    for column, label in _FIELDS:
        value = _format_price(item.get(column)) if column == "price" else _clean(item.get(column))
        if value:
            parts.append(f"{label}: {value}")
    description = _clean(item.get("description"))
    if description:
        parts.append(description[:max_description_chars])
    text = ". ".join(p for p in parts if p)
    return text or f"item {item.get('item_id', '')}".strip()


def catalog_texts(items: pd.DataFrame) -> list[str]:
    """The text of every catalog row, in row (item index) order."""
    return [item_text({str(k): v for k, v in row.items()}) for row in items.to_dict("records")]

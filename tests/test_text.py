from __future__ import annotations

import math

from semrec.data import item_text


def test_title_entities_are_decoded() -> None:
    assert item_text({"item_id": "x", "title": "Nail Polish &amp; Remover &amp;amp; more"}) == (
        "Nail Polish & Remover & more"
    )


def test_all_fields_in_order_when_present() -> None:
    text = item_text(
        {
            "item_id": "x",
            "title": " Shampoo  ",
            "brand": "Acme",
            "categories": "Beauty &gt; Hair",
            "price": 12.5,
            "description": "<p>Gentle&nbsp;formula</p>",
        }
    )
    assert text == "Shampoo. Brand: Acme. Category: Beauty > Hair. Price: 12.50. Gentle formula"


def test_missing_and_nan_fields_are_skipped() -> None:
    assert item_text({"item_id": "x", "title": "Soap", "price": math.nan, "brand": None}) == "Soap"


def test_item_without_text_gets_its_id() -> None:
    assert item_text({"item_id": "B00X", "title": ""}) == "item B00X"

"""A small shop with brands, categories and prices, for the serving tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_dataset

SHOP_ITEMS = [
    ("lip-1", "Velvet Rose Lipstick", "Glowa", "Makeup > Lips", "12.5"),
    ("lip-2", "Cherry Lip Gloss", "Glowa", "Makeup > Lips", "9.0"),
    ("lip-3", "Nude Matte Lip Liner", "Pura", "Makeup > Lips", "7.5"),
    ("eye-1", "Waterproof Black Mascara", "Pura", "Makeup > Eyes", "14.0"),
    ("eye-2", "Smoky Eyeshadow Palette", "Glowa", "Makeup > Eyes", "22.0"),
    ("hair-1", "Tea Tree Shampoo", "Verda", "Hair > Shampoo", "8.0"),
    ("hair-2", "Tea Tree Conditioner", "Verda", "Hair > Conditioner", "8.5"),
    ("hair-3", "Argan Oil Hair Mask", "Verda", "Hair > Treatments", "15.0"),
    ("nail-1", "Coral Nail Polish", "Pura", "Nails", "6.0"),
    ("nail-2", "Nail Polish Remover Pads", "Pura", "Nails", "4.0"),
    ("skin-1", "Hyaluronic Face Serum", "Lumi", "Skin > Serums", "29.0"),
    ("skin-2", "Daily Mineral Sunscreen SPF50", "Lumi", "Skin > Sun", "18.0"),
]

_JOURNEYS = [
    ["lip-1", "lip-2", "lip-3", "eye-2"],
    ["hair-1", "hair-2", "hair-3"],
    ["nail-1", "nail-2", "lip-1"],
    ["skin-1", "skin-2", "eye-1"],
    ["eye-1", "eye-2", "lip-1", "lip-2"],
]
SHOP_EVENTS = [
    (f"s{n}-{j}", item, str(100 + step))
    for n in range(6)
    for j, journey in enumerate(_JOURNEYS)
    for step, item in enumerate(journey * 2)  # twice, so leave-one-out training keeps each journey
]


def write_shop(directory: Path) -> Path:
    return write_dataset(
        directory,
        SHOP_ITEMS,
        SHOP_EVENTS,
        item_header=("item_id", "title", "brand", "categories", "price"),
    )

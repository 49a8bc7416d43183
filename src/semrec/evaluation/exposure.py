"""Who gets seen: item-exposure Gini of the lists, exposure by popularity band and by brand, and
accuracy by shopper activity."""

from __future__ import annotations

from typing import Any

import numpy as np

BANDS = ("head", "torso", "tail", "unseen")


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, near 1 when one holds all."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    total = ordered.sum()
    if len(ordered) == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, len(ordered) + 1)
    return float((2 * ranks - len(ordered) - 1) @ ordered / (len(ordered) * total))


def exposure(ranked: np.ndarray, n_items: int, k: int = 10) -> np.ndarray:
    """Slots each item holds in the top ``k`` of all lists (-1 pads ignored)."""
    top = ranked[:, :k]
    return np.bincount(top[top >= 0], minlength=n_items).astype(np.float64)


def exposure_report(
    ranked: np.ndarray, groups: np.ndarray, brands: np.ndarray | None = None, k: int = 10
) -> dict[str, Any]:
    """Gini over the whole catalog of top-``k`` slots; each popularity band's share of the slots
    (beside its share of the catalog); with brands, the Gini over brands and the ten most shown."""
    slots = exposure(ranked, len(groups), k)
    total = max(float(slots.sum()), 1.0)
    report: dict[str, Any] = {
        f"gini@{k}": round(gini(slots), 6),
        f"exposure_share@{k}": {b: round(float(slots[groups == b].sum()) / total, 6) for b in BANDS},
        "catalog_share": {b: round(float((groups == b).mean()), 6) for b in BANDS},
    }
    if brands is not None:
        names, inverse = np.unique(brands.astype(str), return_inverse=True)
        per_brand = np.bincount(inverse, weights=slots, minlength=len(names))
        top = np.argsort(-per_brand, kind="stable")[:10]
        report[f"brand_gini@{k}"] = round(gini(per_brand), 6)
        report[f"top_brands@{k}"] = {str(names[i]): round(float(per_brand[i]) / total, 6) for i in top}
    return report

"""In-memory form of a dataset: a catalog and an ordered event log, both indexed by dense integers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd


@dataclass
class Dataset:
    """A validated catalog plus interactions.

    ``items`` has one row per item; its position is the item's dense index. ``interactions`` keeps the
    file's rows in file order (the authoritative order), with extra columns, plus ``user_idx`` and
    ``item_idx``. ``timestamp`` is float seconds since the epoch, NaN where the file left it empty.
    """

    name: str
    items: pd.DataFrame
    interactions: pd.DataFrame
    user_ids: np.ndarray = field(repr=False)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    @cached_property
    def item_ids(self) -> np.ndarray:
        return self.items["item_id"].to_numpy(dtype=object)

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {str(item_id): i for i, item_id in enumerate(self.item_ids)}

    @cached_property
    def sequences(self) -> list[np.ndarray]:
        """Per user (by ``user_idx``), the item indices in the order the user acted."""
        return self._grouped("item_idx", np.int64)

    @cached_property
    def timestamps(self) -> list[np.ndarray]:
        """Per user, the event times (float seconds, NaN when unknown), aligned with ``sequences``."""
        return self._grouped("timestamp", np.float64)

    def _grouped(self, column: str, dtype: type) -> list[np.ndarray]:
        return self.per_user(self.interactions[column].to_numpy(dtype=dtype))

    def per_user(self, values: np.ndarray) -> list[np.ndarray]:
        """Splits a per-row array into per-user arrays, in row order."""
        users = self.interactions["user_idx"].to_numpy()
        order = np.argsort(users, kind="stable")  # stable: keeps row order within each user
        bounds = np.searchsorted(users[order], np.arange(self.n_users + 1))
        sorted_values = values[order]
        return [sorted_values[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def summary(self) -> dict[str, object]:
        lengths = np.array([len(s) for s in self.sequences])
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "mean_sequence_length": round(float(lengths.mean()), 3) if len(lengths) else 0.0,
            "item_columns": list(self.items.columns),
            "interaction_columns": [
                c for c in self.interactions.columns if c not in ("user_idx", "item_idx")
            ],
        }

from __future__ import annotations

import numpy as np

from semrec.online.catalog import Catalog, GrowingMatrix
from semrec.schema import Item


def empty_catalog() -> Catalog:
    return Catalog(
        rec=GrowingMatrix(np.zeros((0, 4))),
        text=GrowingMatrix(np.zeros((0, 3))),
        meta=[],
        alive=np.zeros(0, dtype=bool),
        bonus=np.zeros(0),
        popularity=np.zeros(0),
    )


def test_one_by_one_appends_keep_every_per_row_array_right() -> None:
    catalog = empty_catalog()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 4)).astype(np.float32)
    vectors[7] = 0.0  # a row without a recommendation vector
    snapshot = None
    for i in range(40):
        item = Item(f"i{i}", f"t{i}", text="long text", available=i % 5 != 0, vector=np.ones(3))
        flags = np.array([i != 7]), np.array([i % 3 - 1])
        catalog.append([item], vectors[i : i + 1], np.ones((1, 3)), np.array([float(i)]), *flags)
        if i == 9:
            snapshot = catalog.alive  # what a reader holds while later appends arrive
    catalog.append([Item("i3", "t3 again")], vectors[3:4], np.ones((1, 3)), np.zeros(1))  # replaces i3
    n = 41
    assert catalog.rows == n
    for name in ("alive", "bonus", "popularity", "recommendable", "trained", "rec_scale"):
        assert len(getattr(catalog, name)) == n, name
    expected_alive = [i % 5 != 0 for i in range(40)] + [True]
    expected_alive[3] = False  # the old row of the replaced item
    assert catalog.alive.tolist() == expected_alive
    assert catalog.recommendable.tolist() == [i != 7 for i in range(40)] + [True]
    assert catalog.trained.tolist() == [i % 3 - 1 for i in range(40)] + [-1]
    assert catalog.popularity[40] == 3.0  # the replacement keeps the old row's count
    # the catalog keeps what answers show, not the text or vector it was embedded from
    assert catalog.meta[0] == Item("i0", "t0", available=False)
    assert catalog.popularity[:40].tolist() == [float(i) for i in range(40)]
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(catalog.rec_scale[:40][norms > 0], 1 / norms[norms > 0])
    assert np.allclose(catalog.unit_rec([7]), 0.0)
    # a reader's earlier view keeps its length and its rows (later masks may or may not show in it)
    assert snapshot is not None and len(snapshot) == 10 and snapshot[4:].tolist() == expected_alive[4:10]
    catalog.remove("i1")
    assert not catalog.alive[1] and catalog.live_row("i1") is None

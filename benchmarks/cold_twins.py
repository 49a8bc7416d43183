"""New products in the served shop: twins of existing products, and a product with a title nobody has seen.

usage: python benchmarks/cold_twins.py --artifacts A [--twins 10] [--seed 0] [--out results.json]

Serves the artifacts (the whole FastAPI app, in process, over a fresh SQLite database) and
- PUTs, under a new id, exactly the fields of ``--twins`` existing products picked across the
  popularity range (one per popularity decile of the training counts, seeded); for each twin it
  reads its rank in `similar` of the original (top 50) and in the recommendations (top 50) of a
  shopper whose last clicks are the original's two nearest neighbours and then the original;
- PUTs one product with a new title ("Glitterfrost Unicorn Holographic Nail Polish Lacquer, Long
  Lasting") and reads its rank in `similar` of the most popular nail polish and in the
  recommendations of a shopper who has just clicked three nail polishes.
The JSON written to --out holds every rank (null: not in the top 50) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.evaluation.runner import write_results
from semrec.settings import ServerSettings

KEY = {"X-API-Key": "bench-writer"}
NEW_TITLE = "Glitterfrost Unicorn Holographic Nail Polish Lacquer, Long Lasting"


def rank_of(client: TestClient, url: str, item_id: str) -> int | None:
    response = client.get(url, headers=KEY)
    response.raise_for_status()
    ids = [item["item_id"] for item in response.json()["items"]]
    return ids.index(item_id) + 1 if item_id in ids else None


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--twins", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="semrec-twins-")
    settings = ServerSettings(
        artifacts=args.artifacts,
        database=Path(folder) / "shop.db",
        api_keys=[{"name": "bench", "key": "bench-writer", "scopes": ["read", "write"]}],
    )
    client = TestClient(create_app(settings))
    engine: Any = client.app.state.follower.engine  # type: ignore[attr-defined]
    runtime = engine.runtime
    catalog = runtime.catalog
    counts = runtime.popularity
    rng = np.random.default_rng(args.seed)
    order = np.argsort(-counts, kind="stable")
    seen = order[counts[order] > 0]
    deciles = np.array_split(seen, args.twins)
    picks = [int(rng.choice(part)) for part in deciles if len(part)]
    twins: list[dict[str, Any]] = []
    for index in picks:
        row = catalog.iloc[index]
        original = str(row["item_id"])
        fields: dict[str, Any] = {"title": str(row["title"])}
        for column, key in (("brand", "brand"), ("categories", "category"), ("category", "category")):
            if column in row and isinstance(row[column], str) and row[column]:
                fields[key] = row[column]
        if "price" in row and row["price"] == row["price"]:
            fields["price"] = float(row["price"])
        twin = f"{original}-twin"
        client.put(f"/v1/items/{twin}", json=fields, headers=KEY).raise_for_status()
        similar = client.get(f"/v1/items/{original}/similar?k=5", headers=KEY).json()["items"]
        neighbours = [i["item_id"] for i in similar if i["item_id"] != twin][:2]
        shopper = f"twin-fan-{original}"
        events = [{"user_id": shopper, "item_id": i, "type": "click"} for i in [*neighbours, original]]
        client.post("/v1/events", json={"events": events}, headers=KEY).raise_for_status()
        twins.append(
            {
                "original": original,
                "title": fields["title"],
                "training_count": int(counts[index]),
                "rank_in_similar": rank_of(client, f"/v1/items/{original}/similar?k=50", twin),
                "rank_in_recommendations": rank_of(client, f"/v1/users/{shopper}/recommendations?k=50", twin),
            }
        )
        print(json.dumps(twins[-1]), flush=True)
    polishes = [
        i for i in order if "nail polish" in str(catalog.iloc[int(i)]["title"]).lower() and counts[i] > 0
    ][:3]
    polish_ids = [str(catalog.iloc[int(i)]["item_id"]) for i in polishes]
    new = {"title": NEW_TITLE}
    client.put("/v1/items/glitterfrost", json=new, headers=KEY).raise_for_status()
    events = [{"user_id": "polish-fan", "item_id": i, "type": "click"} for i in polish_ids]
    client.post("/v1/events", json={"events": events}, headers=KEY).raise_for_status()
    new_product = {
        "title": NEW_TITLE,
        "clicked": polish_ids,
        "rank_in_search": rank_of(client, "/v1/search?q=holographic+nail+polish&k=50", "glitterfrost"),
        "rank_in_similar_of_top_polish": rank_of(
            client, f"/v1/items/{polish_ids[0]}/similar?k=50", "glitterfrost"
        ),
        "rank_in_recommendations": rank_of(
            client, "/v1/users/polish-fan/recommendations?k=50", "glitterfrost"
        ),
    }
    print(json.dumps(new_product), flush=True)

    def within(key: str, k: int) -> int:
        return sum(1 for t in twins if t[key] is not None and int(t[key]) <= k)

    summary = {
        "twins_in_top3_similar": within("rank_in_similar", 3),
        "twins_in_top10_recommendations": within("rank_in_recommendations", 10),
        "twins": len(twins),
    }
    print(json.dumps(summary))
    if args.out is not None:
        document = {
            "artifacts": str(args.artifacts.resolve()),
            "model_version": runtime.version,
            "provenance": runtime.config.get("provenance", {}),
            "summary": summary,
            "twins": twins,
            "new_product": new_product,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()

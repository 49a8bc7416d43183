"""Shilling: fake shoppers push chosen products; how far they rise, with and without the influence caps.

    python benchmarks/shilling.py --artifacts DIR [--data DIR] [--targets 3] [--fakes 150] [--out ...]

Run twice in one go, on a fresh database each: the server and `semrec retrain` without influence caps,
then with them (the default caps, plus ``key_item`` for the leaked key; the shop's own key trusted).
Each run:

1. the shop's history: --history real shoppers' training sequences, sent with the shop's key (the
   store's first events, already in the model's dataset: ``--since-event``);
2. a day of traffic, in random shopper order: --shoppers real shoppers' next event (their
   validation item), and two attacks on tail products (1-3 training events) drawn at random:
   - fake shoppers (--fakes per target) behind a leaked client key, each viewing three of the 50
     most popular products and then clicking the target (a bandwagon attack);
   - bots (--bots per target) behind the shop's own key, each alternating popular products and the
     target --bot-clicks times;
3. the popular list a new shopper gets, read from the server (the target's position in the top 100);
4. `semrec retrain` on the day (its gate's verdict recorded), and the retrained model's top 10 for
   --measure real shoppers (their whole training history, none of them attackers): the share of
   lists holding each target, against the model before the attack.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from serving import KEY, ROOT, machine, start_server, write_result

LEAKED = "leaked-client-key"


def shop_traffic(dataset: Any, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """The history, the day's shoppers (each a list of events, in order) and the targets."""
    item_ids = [str(i) for i in dataset.item_ids]
    sequences = dataset.sequences
    counts = np.bincount(np.concatenate([s[:-2] for s in sequences]), minlength=len(item_ids))
    popular = [item_ids[i] for i in np.argsort(-counts, kind="stable")[:50]]
    tail = [i for i in range(len(item_ids)) if 1 <= counts[i] <= 3]
    targets = [item_ids[i] for i in rng.sample(tail, 2 * args.targets)]
    fake_targets, bot_targets = targets[: args.targets], targets[args.targets :]
    users = rng.sample(range(dataset.n_users), args.history + args.measure)
    history_users, measured = users[: args.history], users[args.history :]
    history = [(str(dataset.user_ids[u]), item_ids[i]) for u in history_users for i in sequences[u][:-2]]
    day: list[tuple[str, list[tuple[str, str]]]] = []  # (key, [(user, item)])
    for u in rng.sample(history_users, min(args.shoppers, len(history_users))):
        day.append((KEY, [(str(dataset.user_ids[u]), item_ids[sequences[u][-2]])]))
    for t, target in enumerate(fake_targets):
        for n in range(args.fakes):
            user = f"fake-{t}-{n}"
            day.append((LEAKED, [(user, p) for p in rng.sample(popular, 3)] + [(user, target)]))
    for t, target in enumerate(bot_targets):
        for n in range(args.bots):
            user = f"bot-{t}-{n}"
            clicks = [(user, item) for _ in range(args.bot_clicks) for item in (rng.choice(popular), target)]
            day.append((KEY, clicks))
    rng.shuffle(day)
    return {
        "history": history,
        "day": day,
        "fake_targets": fake_targets,
        "bot_targets": bot_targets,
        "measured": [sequences[u][:-1] for u in measured],
        "target_counts": {t: int(counts[item_ids.index(t)]) for t in targets},
    }


def send(client: httpx.Client, key: str, pairs: list[tuple[str, str]]) -> None:
    for start in range(0, len(pairs), 100):
        events = [{"user_id": u, "item_id": i, "type": "click"} for u, i in pairs[start : start + 100]]
        client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key}).raise_for_status()


def popular_ranks(client: httpx.Client, targets: list[str], who: str) -> dict[str, int | None]:
    """Each target's position (1-based) in the top 100 a new shopper gets, None when not there."""
    listed = client.get(f"/v1/users/{who}/recommendations?k=100").json()["items"]
    order = [item["item_id"] for item in listed]
    return {t: order.index(t) + 1 if t in order else None for t in targets}


def shares(artifacts: Path, measured: list[np.ndarray], targets: list[str]) -> dict[str, Any]:
    """Per target, over the measured shoppers: the share of top-10 lists (the model's own, ranking
    stage included) that hold it, the share of top 50s, and its median rank by the model's score
    over the whole catalog (1 = first; the shopper's own history left out)."""
    from semrec.artifacts import load_artifacts

    model, item_ids, _ = load_artifacts(artifacts)
    columns = [item_ids.index(t) for t in targets]
    top10 = model.recommend(measured, 10, exclude=measured)
    ranks = np.zeros((len(measured), len(targets)), dtype=np.int64)
    for start in range(0, len(measured), 500):
        chunk = measured[start : start + 500]
        scores = model.score(chunk)
        for row, history in enumerate(chunk):
            scores[row, history] = -np.inf
        own = scores[:, columns]  # (shoppers, targets)
        ranks[start : start + len(chunk)] = 1 + (scores[:, None, :] > own[:, :, None]).sum(axis=2)
    return {
        t: {
            "top10": round(float((top10 == c).any(axis=1).mean()), 6),
            "top50": round(float((ranks[:, n] <= 50).mean()), 6),
            "median_rank": float(np.median(ranks[:, n])),
        }
        for n, (t, c) in enumerate(zip(targets, columns, strict=True))
    }


def one_run(args: argparse.Namespace, traffic: dict[str, Any], capped: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="semrec-shilling-"))
    caps = (
        f'influence = {{ key_item = {args.key_item}, trusted_keys = ["bench"] }}\n'
        if capped
        else ("influence = { shopper_item = 0, shopper = 0, key_item = 0 }\n")
    )
    extra = f"\n[[api_keys]]\nname = 'leaked'\nkey = '{LEAKED}'\nscopes = ['read', 'write']\n"
    process, url = start_server(args.artifacts, workdir, text_shortlist=True, settings=caps, keys=extra)
    targets = traffic["fake_targets"] + traffic["bot_targets"]
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=120) as client:
            send(client, KEY, traffic["history"])
            since = len(traffic["history"])  # a fresh database: the history's ids are 1..since
            before = popular_ranks(client, targets, "newcomer-before")
            sent = 0
            for key, pairs in traffic["day"]:
                send(client, key, pairs)
                sent += len(pairs)
            after = popular_ranks(client, targets, "newcomer-after")
    finally:
        process.terminate()
        process.wait(timeout=60)
    out = workdir / "retrained"
    command = [sys.executable, "-m", "semrec.cli", "retrain", "--artifacts", str(args.artifacts)]
    command += ["--database", str(workdir / "bench.db"), "--out", str(out), "--no-reload"]
    command += ["--since-event", str(since)]
    command += ["--config", str(workdir / "semrec.toml")] if capped else ["--no-caps"]
    retrained = subprocess.run(command, capture_output=True, text=True)
    if retrained.returncode not in (0, 3):
        raise SystemExit(f"retrain failed ({retrained.returncode}):\n{retrained.stderr[-3000:]}")
    gate = json.loads((out / "gate.json").read_text())
    config = json.loads((out / "config.json").read_text())
    return {
        "caps": caps.strip(),
        "events_sent": {"history": len(traffic["history"]), "day": sent},
        "popular_rank_before": before,
        "popular_rank_after": after,
        "retrain": {
            "promoted": gate["promoted"],
            "reason": gate.get("reason"),
            "events_past_caps": config["continual"]["events_past_caps"],
            "new_examples": config["continual"]["new_examples"],
        },
        "top10_share": shares(out, traffic["measured"], targets),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--targets", type=int, default=3, help="Targets per attack.")
    parser.add_argument("--fakes", type=int, default=150, help="Fake shoppers per target.")
    parser.add_argument("--bots", type=int, default=2, help="Bots per target.")
    parser.add_argument("--bot-clicks", type=int, default=150, help="Target clicks per bot.")
    parser.add_argument("--key-item", type=int, default=20, help="The capped run's key_item.")
    parser.add_argument("--history", type=int, default=3000, help="Real shoppers whose history is loaded.")
    parser.add_argument("--shoppers", type=int, default=2000, help="Real shoppers with an event that day.")
    parser.add_argument("--measure", type=int, default=3000, help="Real shoppers whose lists are measured.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from semrec.data.loader import load_dataset

    traffic = shop_traffic(load_dataset(args.data), args, random.Random(args.seed))
    targets = traffic["fake_targets"] + traffic["bot_targets"]
    result: dict[str, Any] = {
        "benchmark": "shilling",
        "dataset": args.data.name,
        "artifacts": str(args.artifacts),
        "protocol": "leave-one-out (attack on the day after the training data; lists of real shoppers' "
        "training histories)",
        "machine": machine(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "fake_targets": traffic["fake_targets"],
        "bot_targets": traffic["bot_targets"],
        "target_training_counts": traffic["target_counts"],
        "top10_share_before_attack": shares(args.artifacts, traffic["measured"], targets),
    }
    for name, capped in (("no_caps", False), ("caps", True)):
        result[name] = one_run(args, traffic, capped)
        print(name, json.dumps(result[name]), file=sys.stderr)
    write_result(result, args.out)


if __name__ == "__main__":
    main()

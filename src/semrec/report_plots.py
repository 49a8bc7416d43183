"""The plots `semrec report` draws: the shared figure helpers and the plots of benchmark files
(latency, replay, exposure, soak), each one PNG embedded as base64."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "SUMMARISED", "new_figure", "plot_latency", "plt", "png_of"]

PALETTE = ["#6b3fd4", "#e07a1f", "#1f9e89", "#d0455b", "#3b7dd8", "#8c8c8c", "#b5a000", "#5c3c1c"]


def png_of(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def new_figure(title: str, width: float = 7.5, height: float = 3.6) -> tuple[Any, Any]:
    figure, axes = plt.subplots(figsize=(width, height))
    axes.set_title(title, fontsize=11, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    return figure, axes


def plot_latency(benchmark: dict[str, Any]) -> str | None:
    routes = {name: data for name, data in benchmark.get("http", {}).items() if "histogram" in data}
    if not routes:
        return None
    figure, axes = new_figure("Server latency under load (open loop, loopback HTTP)")
    for (name, data), colour in zip(routes.items(), PALETTE, strict=False):
        edges, counts = data["histogram"]["edges_ms"], data["histogram"]["counts"]
        axes.stairs(
            counts,
            edges,
            label=f"{name}: p50 {data['p50_ms']} ms, p99 {data['p99_ms']} ms @ {data['target_rps']:g}/s",
            color=colour,
        )
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("requests")
    axes.legend(fontsize=8, frameon=False)
    return png_of(figure)


def plot_replay(benchmark: dict[str, Any]) -> str | None:
    """NDCG@10 of each day's next events for the static, continual and fully retrained models
    (``benchmarks/replay.py``), with each arm's training compute in its label."""
    days = benchmark.get("days") or []
    if benchmark.get("benchmark") != "replay" or not days:
        return None
    figure, axes = new_figure("Replay on time order: each day's events scored before they are learned")
    labels = [str(day["day"])[5:] for day in days]
    seconds = {
        "static": float(benchmark.get("static_train_seconds", 0.0)),
        "continual": sum(float(day.get("continual_seconds", 0.0)) for day in days),
        "full": sum(float(day.get("full_seconds", 0.0)) for day in days),
    }
    names = {
        "static": "static (trained once)",
        "continual": "continual (daily, gated)",
        "full": "full retrain (daily)",
    }
    for (arm, name), colour in zip(names.items(), PALETTE, strict=False):
        values = [day[arm]["ndcg@10"] for day in days]
        axes.plot(
            labels, values, marker="o", color=colour, label=f"{name}: {seconds[arm] / 60:.1f} min of training"
        )
    refused = [i for i, day in enumerate(days) if not day.get("gate", {}).get("promoted", True)]
    if refused:  # the evening's candidate was refused: the next day keeps the live model
        axes.scatter(
            [labels[i] for i in refused],
            [days[i]["continual"]["ndcg@10"] for i in refused],
            marker="x",
            color="#1d2330",
            zorder=3,
            label="candidate refused by the gate that evening",
        )
    axes.set_xlabel("day")
    axes.set_ylabel("NDCG@10 of the day's events")
    axes.legend(fontsize=7, frameon=False)
    return png_of(figure)


def plot_exposure(benchmark: dict[str, Any]) -> str | None:
    """NDCG@10 against the item-exposure Gini of the top 10, one point per ``exposure_boost``, on
    validation and test (``benchmarks/exposure.py``), the boost chosen on validation marked."""
    curves = benchmark.get("curves") or {}
    if benchmark.get("benchmark") != "exposure" or not curves:
        return None
    figure, axes = new_figure("Fair exposure: accuracy against the concentration of the top 10")
    chosen = benchmark.get("summary", {}).get("chosen_on_validation")
    for (split, rows), colour in zip(curves.items(), PALETTE, strict=False):
        gini = [row["gini@10"] for row in rows]
        ndcg = [row["ndcg@10"] for row in rows]
        axes.plot(gini, ndcg, marker="o", color=colour, label=f"{split} split")
        for row in rows:
            axes.annotate(f"{row['boost']:g}", (row["gini@10"], row["ndcg@10"]), fontsize=6)
            if chosen is not None and row["boost"] == chosen:
                point = ([row["gini@10"]], [row["ndcg@10"]])
                axes.scatter(*point, s=90, facecolors="none", edgecolors="#1d2330")
    axes.set_xlabel("item-exposure Gini of the top 10 (lower: exposure spread wider)")
    axes.set_ylabel("NDCG@10")
    axes.legend(fontsize=7, frameon=False, title="labels: exposure_boost; circled: chosen on validation")
    return png_of(figure)


def plot_soak(benchmark: dict[str, Any]) -> str | None:
    """p50 and p99 latency of each minute of a soak run, and the server's resident memory
    (``benchmarks/soak.py``)."""
    minutes = benchmark.get("minutes") or []
    if benchmark.get("benchmark") != "soak" or not minutes:
        return None
    figure, axes = new_figure("Soak: each minute's latency, and the server's memory")
    index = [m["minute"] for m in minutes]
    for key, colour in zip(("p50_ms", "p99_ms"), PALETTE, strict=False):
        axes.plot(index, [m[key] for m in minutes], marker="o", color=colour, label=key.replace("_ms", ""))
    axes.set_xlabel("minute")
    axes.set_ylabel("latency (ms)")
    memory = axes.twinx()
    memory.plot(index, [m["rss_mib"] for m in minutes], color="#8a8f99", linestyle="--", label="RSS (MiB)")
    memory.set_ylabel("resident memory (MiB)")
    axes.legend(fontsize=7, frameon=False, loc="upper left")
    memory.legend(fontsize=7, frameon=False, loc="upper right")
    return png_of(figure)


# benchmark files drawn with their summary: kind -> (section title, plot)
SUMMARISED: dict[str, tuple[str, Callable[[dict[str, Any]], str | None]]] = {
    "soak": ("Soak", plot_soak),
    "exposure": ("Fair exposure ({split} splits, {protocol})", plot_exposure),
    "replay": ("Continual training ({split}, {protocol})", plot_replay),
}

"""`semrec report`: one self-contained HTML file (plots embedded as PNG) from results and benchmarks.

Inputs are the JSON files `semrec evaluate --out` writes, and optionally the `--json` output of
`benchmarks/serving.py` (latency histograms). Nothing is fetched when the report is opened.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from semrec.report_plots import PALETTE, SUMMARISED, new_figure, plot_latency, plt, png_of  # Agg set there

KS = (5, 10, 20, 50)
# published full-ranking results on amazon-beauty (HR@10, NDCG@10), from the datasets README
PUBLISHED = {
    "amazon-beauty": {
        "PopRec": (0.0152, 0.0068),
        "GRU4Rec": (0.0283, 0.0137),
        "BERT4Rec": (0.0347, 0.0170),
        "SASRec (S3-Rec paper)": (0.0605, 0.0318),
        "S3-Rec": (0.0647, 0.0327),
        "TIGER": (0.0648, 0.0384),
        "SASRec tuned (eSASRec repo)": (0.0921, 0.0531),
        "eSASRec": (0.0928, 0.0523),
        "RecBole SASRec, this protocol": (0.0895, 0.0546),
    }
}


class ReportError(ValueError):
    pass


def _label(document: dict[str, Any], path: Path) -> str:
    model = document.get("model", {})
    name = str(model.get("model", path.stem))
    extra = []
    if name == "lmrec":
        extra.append(str(model.get("mode", "frozen")))
        extra.append("hybrid" if model.get("hybrid", True) else "text-only")
    protocol = document.get("protocol", "")
    if protocol and protocol != "leave-one-out":
        extra.append(protocol)
    if protocol == "cold-items" and "valid_cold_fraction" not in document.get("provenance", {}):
        extra.append("older validation split")  # validation hid 5% of all items then
    return f"{name} ({', '.join(extra)})" if extra else name


def load_results(paths: Sequence[Path]) -> list[tuple[str, dict[str, Any]]]:
    loaded = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ReportError(f"{path}: not a readable results file ({error})") from None
        if "metrics" not in document:
            raise ReportError(f"{path}: no 'metrics' in it; pass files written by `semrec evaluate --out`")
        loaded.append((_label(document, Path(path)), document))
    return loaded


def plot_by_k(results: list[tuple[str, dict[str, Any]]]) -> str:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (label, document), colour in zip(results, PALETTE * 4, strict=False):
        metrics = document["metrics"]
        for axes, metric in ((left, "hr"), (right, "ndcg")):
            values = [metrics.get(f"{metric}@{k}") for k in KS]
            if all(v is not None for v in values):
                axes.plot(KS, values, marker="o", label=label, color=colour)
    for axes, metric in ((left, "HR@K"), (right, "NDCG@K")):
        axes.set_title(metric, loc="left", fontsize=11)
        axes.set_xscale("log")
        axes.minorticks_off()
        axes.set_xticks(KS, [str(k) for k in KS])
        axes.grid(alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
    right.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    return png_of(figure)


def plot_side_by_side(results: list[tuple[str, dict[str, Any]]], dataset: str) -> str:
    rows = [
        (label, d["metrics"].get("hr@10", 0.0), d["metrics"].get("ndcg@10", 0.0), True)
        for label, d in results
    ]
    rows += [(name, hr, ndcg, False) for name, (hr, ndcg) in PUBLISHED.get(dataset, {}).items()]
    rows.sort(key=lambda r: r[2])
    figure, axes = new_figure(
        f"NDCG@10 on {dataset}: semrec (purple) and published numbers (grey)", 8, 0.5 + 0.32 * len(rows)
    )
    axes.grid(axis="x", alpha=0.3)
    axes.grid(axis="y", visible=False)
    colours = [PALETTE[0] if ours else "#b9b9c6" for *_, ours in rows]
    bars = axes.barh([r[0] for r in rows], [r[2] for r in rows], color=colours)
    for bar, row in zip(bars, rows, strict=True):
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {row[2]:.4f} (HR {row[1]:.3f})",
                  va="center", fontsize=8)  # fmt: skip
    axes.set_xlim(0, max(max(r[2] for r in rows), 1e-3) * 1.35)
    return png_of(figure)


def plot_before_after(results: list[tuple[str, dict[str, Any]]]) -> str | None:
    before = [(name, d) for name, d in results if d["model"].get("model") == "text-zeroshot"]
    after = [
        (name, d)
        for name, d in results
        if d["model"].get("model") == "lmrec" and d.get("protocol") == "leave-one-out"
    ]
    if not before or not after:
        return None
    chosen = [before[0], *after]
    figure, axes = new_figure("Before and after fine-tuning on the shop's behaviour (test split)")
    metrics = ("hr@10", "ndcg@10", "hr@20", "ndcg@20")
    width = 0.8 / len(chosen)
    for i, ((label, document), colour) in enumerate(zip(chosen, PALETTE, strict=False)):
        values = [document["metrics"].get(m, 0.0) for m in metrics]
        axes.bar([x + i * width for x in range(len(metrics))], values, width, label=label, color=colour)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(metrics))], [m.upper() for m in metrics])
    axes.legend(fontsize=8, frameon=False)
    return png_of(figure)


def plot_segments(results: list[tuple[str, dict[str, Any]]], segment: str, title: str) -> str | None:
    usable = [(name, d) for name, d in results if segment in d.get("segments", {})]
    if not usable:
        return None
    groups = list(usable[0][1]["segments"][segment])
    figure, axes = new_figure(title)
    width = 0.8 / len(usable)
    for i, ((label, document), colour) in enumerate(zip(usable, PALETTE * 4, strict=False)):
        values = [document["segments"][segment].get(g, {}).get("ndcg@10", 0.0) for g in groups]
        axes.bar([x + i * width for x in range(len(groups))], values, width, label=label, color=colour)
    users = [usable[0][1]["segments"][segment][g].get("users", 0) for g in groups]
    axes.set_xticks(
        [x + 0.4 - width / 2 for x in range(len(groups))],
        [f"{g}\n({u:,} users)" for g, u in zip(groups, users, strict=True)],
    )
    axes.set_ylabel("NDCG@10")
    axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    return png_of(figure)


def plot_cold(results: list[tuple[str, dict[str, Any]]]) -> str | None:
    cold = [(name, d) for name, d in results if d.get("protocol", "").startswith("cold")]
    if not cold:
        return None
    figure, axes = new_figure("Item cold start: HR@10 when the target was never seen in training")
    labels = [name.replace(" (cold-items)", "") for name, _ in cold]
    values = [d["metrics"].get("hr@10", 0.0) for _, d in cold]
    bars = axes.bar(labels, values, color=[PALETTE[i % len(PALETTE)] for i in range(len(cold))])
    for bar, value in zip(bars, values, strict=True):
        axes.text(
            bar.get_x() + bar.get_width() / 2, value, f"{value:.4f}", ha="center", va="bottom", fontsize=8
        )
    plt.setp(axes.get_xticklabels(), rotation=20, ha="right")
    return png_of(figure)


def plot_reliability(results: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Predicted against observed next-item probability of the ranking stage, per equal-mass bin."""
    usable = [(name, d) for name, d in results if d.get("calibration", {}).get("reliability")]
    if not usable:
        return None
    figure, axes = new_figure("Ranking stage: predicted p(next item) against how often it was", 6.0, 4.2)
    low = 1.0
    for (name, document), colour in zip(usable, PALETTE, strict=False):
        info = document["calibration"]
        points = [p for p in info["reliability"] if p["predicted"] > 0]
        predicted = [p["predicted"] for p in points]
        observed = [max(p["observed"], 1e-6) for p in points]
        low = min(low, *predicted, *observed)
        label = f"{name}: ECE {info['ece']:.4f}, log loss {info['log_loss']:.4f} ({info['pairs']:,} pairs)"
        axes.plot(predicted, observed, marker="o", color=colour, label=label)
    axes.plot([low, 1], [low, 1], color="#9aa3b5", linestyle="--", linewidth=1, label="perfectly calibrated")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("predicted probability (bin mean)")
    axes.set_ylabel("observed share of next items")
    axes.legend(fontsize=7, frameon=False, loc="upper left")
    return png_of(figure)


def scope(results: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The splits and protocols a figure's numbers come from, e.g. 'test split, leave-one-out'."""
    pairs = dict.fromkeys(
        f"{d.get('split', 'unknown')} split, {d.get('protocol', 'unknown protocol')}" for _, d in results
    )
    return "; ".join(pairs) or "no results"


def _table(results: list[tuple[str, dict[str, Any]]]) -> str:
    columns = ["hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "coverage@10", "long_tail_share@10"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", "protocol", "split", "users", *columns])
    rows = []
    for label, document in results:
        cells = [label, document.get("protocol", ""), document.get("split", "")]
        cells.append(f"{document.get('evaluated_users', 0):,}")
        cells += [f"{document['metrics'].get(c, float('nan')):.4f}" for c in columns]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def build_report(result_paths: Sequence[Path], benchmark_paths: Sequence[Path] = ()) -> str:
    if not result_paths:
        raise ReportError("give at least one results file (`semrec evaluate --out results.json`)")
    results = load_results(result_paths)
    loo = [(name, d) for name, d in results if not str(d.get("protocol")).startswith("cold")]
    dataset = str(results[0][1].get("dataset", {}).get("name", "dataset"))
    cold = [(name, d) for name, d in results if str(d.get("protocol")).startswith("cold")]
    # (title, image, note, the results it plots): every heading names their split and protocol
    sections: list[tuple[str, str | None, str, list[tuple[str, dict[str, Any]]]]] = []
    if loo:
        sections.append(
            (
                "Metrics by cut-off K",
                plot_by_k(loo),
                "Full ranking over the whole catalog, history excluded.",
                loo,
            )
        )
        sections.append(
            (
                "Side by side with published numbers",
                plot_side_by_side(loo, dataset),
                "Published rows use the same file and protocol (see the datasets README).",
                loo,
            )
        )
        sections.append(
            (
                "Before and after fine-tuning",
                plot_before_after(loo),
                "text-zeroshot is the pretrained encoder alone; lmrec is fine-tuned on the shop's sequences.",
                loo,
            )
        )
        sections.append(
            (
                "By history length",
                plot_segments(loo, "history_length", "NDCG@10 by the shopper's history length"),
                "",
                loo,
            )
        )
        sections.append(
            (
                "By target popularity",
                plot_segments(loo, "target_popularity", "NDCG@10 by the target's training popularity"),
                "head: the 20% most frequent items; unseen: never in training.",
                loo,
            )
        )
    sections.append(
        (
            "Cold start",
            plot_cold(results),
            "Items hidden from all training sequences; only text models can rank them.",
            cold,
        )
    )
    calibrated = [(name, d) for name, d in results if d.get("calibration")]
    sections.append(
        (
            "Calibration of the ranking stage",
            plot_reliability(calibrated),
            "Every candidate of every evaluated shopper, in 15 bins of equal size; the next item is the "
            "positive. Log-log axes: most candidates have small probabilities.",
            calibrated,
        )
    )
    for path in benchmark_paths:
        try:
            benchmark = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ReportError(f"{path}: not a readable benchmark file ({error})") from None
        machine = html.escape(json.dumps(benchmark.get("machine", {})))
        kind = benchmark.get("benchmark")
        if kind in SUMMARISED:
            title, plot = SUMMARISED[kind]
            summary = html.escape(json.dumps(benchmark.get("summary", {})))
            sections.append(
                (
                    title.format(split=benchmark.get("split", ""), protocol=benchmark.get("protocol", "")),
                    plot(benchmark),
                    f"From {Path(path).name}: {summary}; machine: {machine}",
                    [],
                )
            )
            continue
        sections.append(
            ("Latency", plot_latency(benchmark), f"From {Path(path).name}; machine: {machine}", [])
        )
    body = []
    for title, image, note, plotted in sections:
        if image is None:
            continue
        heading = f"{title} ({scope(plotted)})" if plotted else title
        body.append(
            f"<section><h2>{html.escape(heading)}</h2>"
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{image}'>"
            f"<p class='note'>{note}</p></section>"
        )
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>semrec report: {html.escape(dataset)}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; color: #1d2330; max-width: 1100px; margin: 2rem auto;
  padding: 0 1rem; }}
h1 {{ color: #6b3fd4; }} h2 {{ margin-top: 2rem; font-size: 1.15rem; }}
img {{ max-width: 100%; border: 1px solid #e3e6ee; border-radius: 10px; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
th, td {{ border-bottom: 1px solid #e3e6ee; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }} .note {{ color: #5d6677; font-size: .85rem; }}
</style></head><body>
<h1>semrec evaluation report: {html.escape(dataset)}</h1>
<p class="note">{len(results)} result files · created {created}</p>
{_table(results)}
{"".join(body)}
</body></html>
"""


def write_report(result_paths: Sequence[Path], out: Path, benchmark_paths: Sequence[Path] = ()) -> Path:
    document = build_report(result_paths, benchmark_paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    return out

"""`semrec report`: one offline HTML file with every plot, from real evaluation results."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from semrec.cli import app
from tests.conftest import synthetic_ranker


def evaluate(data: Path, out: Path, model: str, protocol: str = "loo") -> Path:
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(data), "--model", model, "--out", str(out), "--protocol", protocol]
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_embeds_every_plot_and_needs_no_network(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    data = shop_artifacts["data"]
    files = [evaluate(data, tmp_path / f"{m}.json", m) for m in ("popularity", "itemknn", "text-zeroshot")]
    ranked = tmp_path / "lmrec-ranked"  # with a ranking stage, whose calibration the report plots
    shutil.copytree(shop_artifacts["lmrec"], ranked)
    synthetic_ranker(6).save(ranked / "ranker")
    lmrec = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(data),
            "--artifacts",
            str(ranked),
            "--out",
            str(tmp_path / "lmrec.json"),
        ],
    )
    assert lmrec.exit_code == 0, lmrec.output
    files.append(tmp_path / "lmrec.json")
    calibration = json.loads((tmp_path / "lmrec.json").read_text())["calibration"]
    assert calibration["candidates"] == 6 and 0 <= calibration["ece"] <= 1
    assert sum(point["pairs"] for point in calibration["reliability"]) == calibration["pairs"] > 0
    files.append(evaluate(data, tmp_path / "cold.json", "text-zeroshot", "cold-items"))
    benchmark = tmp_path / "serving.json"
    histogram = {"edges_ms": [0.5, 1, 2, 4, 8], "counts": [5, 20, 7, 1]}
    route = {"p50_ms": 1.2, "p99_ms": 3.4, "target_rps": 300, "histogram": histogram}
    benchmark.write_text(json.dumps({"machine": {"cpus": 2}, "http": {"recommendations": route}}))
    replay = tmp_path / "replay.json"  # the shape benchmarks/replay.py writes
    day = {"static": {"ndcg@10": 0.03}, "continual": {"ndcg@10": 0.035}, "full": {"ndcg@10": 0.036}}
    days = [{**day, "day": f"2014-06-2{d}", "continual_seconds": 30, "full_seconds": 300} for d in range(3)]
    days[1]["gate"] = {"promoted": False}
    replay.write_text(
        json.dumps(
            {
                "benchmark": "replay",
                "split": "3 days from 2014-06-20",
                "protocol": "replay on time order",
                "days": days,
            }
        )
    )
    exposure = tmp_path / "exposure.json"  # the shape benchmarks/exposure.py writes
    curve = [{"boost": b, "ndcg@10": 0.06 - b / 100, "gini@10": 0.8 - b / 2} for b in (0.0, 0.1, 0.2)]
    exposure.write_text(
        json.dumps(
            {
                "benchmark": "exposure",
                "split": "valid and test",
                "protocol": "leave-one-out",
                "curves": {"valid": curve, "test": curve},
                "summary": {"chosen_on_validation": 0.1},
            }
        )
    )
    args = ["report", "--out", str(tmp_path / "report.html"), "--benchmark", str(benchmark)]
    soak = tmp_path / "soak.json"  # the shape benchmarks/soak.py writes
    minutes = [{"minute": m, "p50_ms": 2.0, "p99_ms": 20.0 + m, "rss_mib": 800.0 + m} for m in (1, 2, 3)]
    soak.write_text(json.dumps({"benchmark": "soak", "minutes": minutes, "summary": {"errors": 0}}))
    args += ["--benchmark", str(replay), "--benchmark", str(exposure), "--benchmark", str(soak)]
    for path in files:
        args += ["--results", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    titles = re.findall(r"<h2>([^<]+)</h2>", page)
    loo = " (test split, leave-one-out)"  # every figure names the split and protocol behind it
    assert titles == [
        "Metrics by cut-off K" + loo,
        "Side by side with published numbers" + loo,
        "Before and after fine-tuning" + loo,
        "By history length" + loo,
        "By target popularity" + loo,
        "Cold start (test split, cold-items)",
        "Calibration of the ranking stage" + loo,
        "Latency",
        "Continual training (3 days from 2014-06-20, replay on time order)",
        "Fair exposure (valid and test splits, leave-one-out)",
        "Soak",
    ]
    assert page.count("src='data:image/png;base64,") == len(titles)
    assert not re.search(r"(src|href)=['\"]https?://", page)  # opens offline
    assert page.count("<tr>") == 1 + len(files)


def test_report_rejects_files_that_are_not_results(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    result = CliRunner().invoke(app, ["report", "--results", str(bad), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "semrec evaluate --out" in result.output


def test_cold_items_results_of_the_older_validation_split_say_so() -> None:
    from semrec.report import _label

    model = {"model": "text-zeroshot"}
    current = {"model": model, "protocol": "cold-items", "provenance": {"valid_cold_fraction": 0.1}}
    assert _label(current, Path("a.json")) == "text-zeroshot (cold-items)"
    older = {"model": model, "protocol": "cold-items", "provenance": {"cold_fraction": 0.1}}
    assert _label(older, Path("a.json")) == "text-zeroshot (cold-items, older validation split)"

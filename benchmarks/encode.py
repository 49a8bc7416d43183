"""Encoder speed and quality, side by side in one run: torch fp32, torch bf16 (on a CPU with bf16
arithmetic), ONNX fp32, ONNX int8, pruned; the CPU model and its instruction sets in the JSON, and
what the CPU's int8 matrix products allow at the encoder's shapes, and how much of it int8 gets.

usage: python benchmarks/encode.py [--data ../shared/datasets/amazon-beauty] [--texts 2048]
       [--singles 300] [--artifacts artifacts/lmrec] [--json]

For each backend, on the same amazon-beauty item texts: texts/s at batch 64, batch-1 p50/p99
latency, mean cosine to torch fp32, and NDCG@10 (test split) of text-zeroshot built on that backend
(and of the lmrec in --artifacts with its item text vectors from that backend, under the protocol
it was trained with).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from semrec.data.loader import load_dataset
from semrec.data.text import catalog_texts
from semrec.encoders.batching import encode_by_length
from semrec.encoders.onnx_export import export_encoder
from semrec.encoders.onnx_runtime import OnnxTextEncoder
from semrec.encoders.protocol import Encoder
from semrec.encoders.transformer import TextEncoder
from semrec.hardware import cpu_info
from serving import cpu_counters, steal_share

ROOT = Path(__file__).resolve().parents[1]


def settle() -> None:
    """Lets the thread pools of the last backend timed stop spinning (PyTorch's OpenMP threads and
    ONNX Runtime's spin a while after each call): on 2 cores they would slow the next one down."""
    time.sleep(0.3)


def latency(encoder: Encoder, singles: list[str]) -> dict[str, float]:
    """Batch-1 latency (a search query, a new product) over ``singles``, one text at a time."""
    settle()
    encoder.encode(singles[:8])  # warm-up
    latencies = []
    for text in singles:
        begin = time.perf_counter()
        encoder.encode([text])
        latencies.append((time.perf_counter() - begin) * 1000)
    return {
        "batch1_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "batch1_p99_ms": round(float(np.percentile(latencies, 99)), 2),
    }


def token_rows(encoder: OnnxTextEncoder, texts: list[str]) -> list[int]:
    """The token rows (texts x padded length) of each batch the encoder runs for ``texts``: the
    rows every weight matrix product of every layer multiplies."""
    rows: list[int] = []

    def run(chunk: list[str]) -> np.ndarray:
        rows.append(int(encoder.feed(chunk)["input_ids"].size))
        return np.zeros((len(chunk), encoder.dim), dtype=np.float32)

    encode_by_length(texts, encoder.dim, encoder.batch_size, run)
    return rows


class MatrixProducts:
    """The encoder's weight matrix products alone on ONNX Runtime: fp32 MatMul against the same
    product quantised as the int8 export quantises it (dynamic activations, per-channel int8
    weights), at the encoder's shapes, each in its most efficient form: queries, keys and values
    as one dim x 3dim product (as the fused fp32 graph multiplies them, one activation
    quantisation for the three in int8), the attention output dim x dim, the feed-forward part
    dim x ffn and ffn x dim."""

    def __init__(self, dim: int, ffn: int, layers: int) -> None:
        from onnx import TensorProto, helper, numpy_helper
        from onnxruntime.quantization import QuantType, quantize_dynamic

        folder = Path(tempfile.mkdtemp(prefix="semrec-matmul-"))
        self.rng = np.random.default_rng(0)
        self.layers = layers
        self.shapes = {"qkv": (dim, 3 * dim), "out": (dim, dim), "up": (dim, ffn), "down": (ffn, dim)}
        self.sessions: dict[tuple[str, str], ort.InferenceSession] = {}
        for name, (k, n) in self.shapes.items():
            weight = numpy_helper.from_array((self.rng.normal(size=(k, n)) * 0.05).astype(np.float32), "W")
            graph = helper.make_graph(
                [helper.make_node("MatMul", ["X", "W"], ["Y"])],
                name,
                [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["rows", k])],
                [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["rows", n])],
                [weight],
            )
            fp32, int8 = folder / f"{name}.onnx", folder / f"{name}-int8.onnx"
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), fp32)
            quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
            for label, path in (("fp32", fp32), ("int8", int8)):
                self.sessions[(name, label)] = ort.InferenceSession(
                    str(path), providers=["CPUExecutionProvider"]
                )

    def product_ms(self, name: str, label: str, rows: int, reps: int) -> float:
        """Mean milliseconds of one product of ``rows`` token rows."""
        session = self.sessions[(name, label)]
        feed = {"X": self.rng.normal(size=(rows, self.shapes[name][0])).astype(np.float32)}
        session.run(None, feed)
        started = time.perf_counter()
        for _ in range(reps):
            session.run(None, feed)
        return (time.perf_counter() - started) / reps * 1000

    def bare(self, rows: int = 1280, reps: int = 50) -> dict[str, Any]:
        """Each product's int8 speed-up at a fixed ``rows`` token rows, and that of one layer."""
        out: dict[str, Any] = {"rows": rows}
        for name in self.shapes:
            fp32, int8 = (self.product_ms(name, label, rows, reps) for label in ("fp32", "int8"))
            out[name] = {
                "fp32_ms": round(fp32, 3),
                "int8_ms": round(int8, 3),
                "speedup": round(fp32 / int8, 2),
            }
        layer = {label: sum(out[name][label] for name in self.shapes) for label in ("fp32_ms", "int8_ms")}
        out["layer_speedup"] = round(layer["fp32_ms"] / layer["int8_ms"], 2)
        return out

    def encoder_ms(self, batches: list[int], reps: int = 10) -> tuple[float, float]:
        """Milliseconds the encoder's weight products take over ``batches`` (token rows of each),
        in fp32 and in int8, the two alternating product by product."""
        settle()
        spent = {"fp32": 0.0, "int8": 0.0}
        for rows in batches:
            for name in self.shapes:
                for label in ("fp32", "int8"):
                    spent[label] += self.product_ms(name, label, rows, reps)
        return spent["fp32"] * self.layers, spent["int8"] * self.layers


def interleaved(
    encoders: dict[str, Encoder],
    sample: list[str],
    rounds: int,
    each_round: Callable[[list[str], dict[str, list[float]]], None] | None = None,
    rotate: bool = True,
) -> dict[str, list[float]]:
    """Seconds each backend takes per round: each round every backend encodes the same slice of
    ``sample`` (in an order that rotates from round to round unless ``rotate`` is off), each after a
    pause and a warm-up, so a slow spell of a shared machine hits all of them alike; then
    ``each_round`` runs on that round's slice and the seconds so far."""
    names = list(encoders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        chunk = sample[index::rounds]
        turn = index % len(names) if rotate else 0
        for name in names[turn:] + names[:turn]:
            settle()
            encoders[name].encode(chunk[:64])  # warm-up (and the same caches for all)
            started = time.perf_counter()
            encoders[name].encode(chunk)
            seconds[name].append(time.perf_counter() - started)
        if each_round is not None:
            each_round(chunk, seconds)
    return seconds


def speedups(seconds: dict[str, list[float]], base: str, texts: int) -> dict[str, dict[str, Any]]:
    """Each backend's texts/s over all rounds and its speed-up over ``base``, the median of the
    rounds' ratios."""
    reference = np.array(seconds[base])
    out: dict[str, dict[str, Any]] = {}
    for name, spent in seconds.items():
        times = np.array(spent)
        out[name] = {
            "texts_per_s": round(texts / float(times.sum()), 1),
            "speedup": round(float(np.median(reference / times)), 2),
            "speedup_per_round": [round(float(x), 2) for x in reference / times],
        }
    return out


def throughput(
    encoders: dict[str, Encoder],
    sample: list[str],
    products: MatrixProducts,
    rows: OnnxTextEncoder,
    rounds: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Texts/s at batch 64 of every backend in :func:`interleaved` rounds, with each backend's
    speed-up over torch fp32 as the median of the rounds' ratios; and, in the same rounds, what the
    CPU's int8 matrix products allow: the encoder's weight products (every layer's, at the token
    rows of that round's batches) timed alone in fp32 and in int8."""
    allowed: list[float] = []
    product_share: list[float] = []
    steals: list[float | None] = []
    token_rows_seen: list[list[int]] = []
    counters = [cpu_counters()]  # at the start of each round

    def products_of(chunk: list[str], seconds: dict[str, list[float]]) -> None:
        batches = token_rows(rows, chunk)
        token_rows_seen.append(batches)
        fp32_ms, int8_ms = products.encoder_ms(batches)
        allowed.append(fp32_ms / int8_ms)
        product_share.append(fp32_ms / (seconds["onnx-fp32"][-1] * 1000))
        steals.append(steal_share(counters[-1], cpu_counters()))  # the pauses count as idle time
        counters.append(cpu_counters())

    seconds = interleaved(encoders, sample, rounds, products_of)
    rows_out = {
        name: {
            "texts_per_s_batch64": row["texts_per_s"],
            "speedup_batch64": row["speedup"],
            "speedup_per_round": row["speedup_per_round"],
        }
        for name, row in speedups(seconds, "torch-fp32", len(sample)).items()
    }
    int8 = np.array(seconds["onnx-fp32"]) / np.array(seconds["onnx-int8"])
    share = int8 / np.array(allowed)
    flat = [r for batch in token_rows_seen for r in batch]
    found = {
        "rounds": rounds,
        "products_int8_vs_fp32": round(float(np.median(allowed)), 2),
        "encoder_int8_vs_onnx_fp32": round(float(np.median(int8)), 2),
        # the encoder's speed-up over its products', round by round (median), and as the ratio of
        # the two medians: the single rounds spread widely on a shared machine
        "share_of_products_speedup": round(float(np.median(share)), 3),
        "share_of_products_speedup_from_medians": round(float(np.median(int8) / np.median(allowed)), 3),
        # the fp32 products timed alone, as a share of the whole fp32 encoder's time
        "products_alone_vs_onnx_fp32_time": round(float(np.median(product_share)), 2),
        "token_rows_per_batch": {"min": min(flat), "mean": round(float(np.mean(flat))), "max": max(flat)},
        "cpu_steal_share_per_round": steals,
        "per_round": {
            "products_int8_vs_fp32": [round(x, 2) for x in allowed],
            "encoder_int8_vs_onnx_fp32": [round(float(x), 2) for x in int8],
            "share": [round(float(x), 3) for x in share],
            "token_rows": token_rows_seen,
        },
    }
    return rows_out, found


def zeroshot_ndcg(data: Path, encoder_ref: str, layers: int = 0, precision: str = "fp32") -> float:
    from semrec.evaluation.runner import RunSpec, run_evaluation

    params = {"encoder": encoder_ref, "device": "cpu", "precision": precision}
    if layers:
        params["layers"] = str(layers)
    document, _, _ = run_evaluation(RunSpec(data=data, model="text-zeroshot", params=params))
    return float(document["metrics"]["ndcg@10"])


def lmrec_ndcg(data: Path, artifacts: Path, vectors: np.ndarray) -> float:
    """The fine-tuned lmrec, reading item text vectors from another backend."""
    from semrec.artifacts import read_config
    from semrec.evaluation.evaluator import evaluate
    from semrec.evaluation.runner import RunSpec, load_trained, prepare

    provenance = read_config(artifacts).get("provenance", {})
    spec = RunSpec(
        data=data,
        artifacts=artifacts,
        protocol=provenance.get("protocol", "loo"),
        cold_fraction=float(provenance.get("cold_fraction", 0.1)),
    )
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)
    table = model.net.items  # type: ignore[attr-defined]
    table.text = torch.cat([torch.zeros(1, vectors.shape[1]), torch.from_numpy(vectors)])
    result = evaluate(model, prepared.split.test, prepared.data.item_counts(), 1024, progress=False)
    return float(result.metrics["ndcg@10"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--pruned-layers", type=int, default=3)
    parser.add_argument(
        "--artifacts", type=Path, default=None, help="lmrec artifacts (frozen mode, raw text)"
    )
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds of the speed runs")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    dataset = load_dataset(args.data)
    texts = catalog_texts(dataset.items)
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), args.texts, replace=False)]
    singles = [texts[i] for i in rng.choice(len(texts), args.singles, replace=False)]
    workdir = Path(tempfile.mkdtemp(prefix="semrec-encode-"))
    torch_encoder = TextEncoder("minilm", device="cpu")
    pruned = TextEncoder("minilm", device="cpu", layers=args.pruned_layers)
    exports = {b: export_encoder(torch_encoder, workdir / b, b) for b in ("onnx", "onnx-int8")}
    pruned_int8 = export_encoder(pruned, workdir / "pruned-int8", "onnx-int8")
    cpu = cpu_info()
    flags = cpu["flags"]
    assert isinstance(flags, dict)
    encoders: dict[str, tuple[Encoder, str, int]] = {
        "torch-fp32": (torch_encoder, "minilm", 0),
        "onnx-fp32": (OnnxTextEncoder(exports["onnx"]), str(exports["onnx"]), 0),
        "onnx-int8": (OnnxTextEncoder(exports["onnx-int8"]), str(exports["onnx-int8"]), 0),
        f"torch-fp32-pruned{args.pruned_layers}": (pruned, "minilm", args.pruned_layers),
        f"onnx-int8-pruned{args.pruned_layers}": (OnnxTextEncoder(pruned_int8), str(pruned_int8), 0),
    }
    if flags.get("avx512_bf16") or flags.get("amx_bf16"):  # elsewhere bf16 is emulated, and slow
        encoders["torch-bf16"] = (TextEncoder("minilm", device="cpu", precision="bf16"), "minilm", 0)
    reference = torch_encoder.encode(sample)
    config = torch_encoder.model.config
    products = MatrixProducts(
        int(config.hidden_size), int(config.intermediate_size), int(config.num_hidden_layers)
    )
    fp32_export = encoders["onnx-fp32"][0]
    assert isinstance(fp32_export, OnnxTextEncoder)
    rates, allowed = throughput(
        {name: encoder for name, (encoder, _, _) in encoders.items()},
        sample,
        products,
        fp32_export,
        args.rounds,
    )
    rows: dict[str, dict[str, Any]] = {}
    for name, (encoder, _, _) in encoders.items():
        vectors = encoder.encode(sample)
        rows[name] = {
            **rates[name],
            **latency(encoder, singles),
            "mean_cosine_to_torch": round(float(np.mean(np.sum(vectors * reference, axis=1))), 5),
        }
        print(name, rows[name], file=sys.stderr, flush=True)
    bare = products.bare()
    print("allowed by the products", allowed, "at fixed rows", bare, file=sys.stderr, flush=True)
    if not args.skip_quality:
        for name, (encoder, ref, layers) in encoders.items():
            precision = "bf16" if name == "torch-bf16" else "fp32"
            rows[name]["text_zeroshot_ndcg@10"] = round(zeroshot_ndcg(args.data, ref, layers, precision), 5)
            if args.artifacts is not None and "pruned" not in name:
                vectors = encoder.encode(texts)
                rows[name]["lmrec_ndcg@10"] = round(lmrec_ndcg(args.data, args.artifacts, vectors), 5)
            print(name, rows[name], file=sys.stderr, flush=True)
    result = {
        "machine": {
            "cpu": cpu,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
        },
        "texts": args.texts,
        "backends": rows,
        # int8 against fp32 on ONNX Runtime: the encoder, what the encoder's weight products allow
        # (timed alone at the encoder's token rows, in the same rounds), and the products at fixed rows
        "int8_vs_onnx_fp32": {
            "encoder": allowed["encoder_int8_vs_onnx_fp32"],
            "allowed_by_products": allowed,
            "matmul": {
                **bare,
                "share_of_layer_speedup": round(
                    allowed["encoder_int8_vs_onnx_fp32"] / bare["layer_speedup"], 3
                ),
            },
        },
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()

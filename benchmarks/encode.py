"""Encoder speed and quality, side by side in one run: torch fp32, torch bf16 (on a CPU with bf16
arithmetic), ONNX fp32, ONNX int8, pruned; the CPU model and its instruction sets in the JSON, and
what the CPU's int8 matrix products allow at the encoder's shapes (the ceiling int8 can reach).

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
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from semrec.data.loader import load_dataset
from semrec.data.text import catalog_texts
from semrec.encoders.onnx_export import export_encoder
from semrec.encoders.onnx_runtime import OnnxTextEncoder
from semrec.encoders.protocol import Encoder
from semrec.encoders.transformer import TextEncoder
from semrec.hardware import cpu_info

ROOT = Path(__file__).resolve().parents[1]


def speed(encoder: Encoder, texts: list[str], singles: list[str]) -> dict[str, float]:
    encoder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    encoder.encode(texts)
    rate = len(texts) / (time.perf_counter() - started)
    latencies = []
    for text in singles:
        begin = time.perf_counter()
        encoder.encode([text])
        latencies.append((time.perf_counter() - begin) * 1000)
    return {
        "texts_per_s_batch64": round(rate, 1),
        "batch1_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "batch1_p99_ms": round(float(np.percentile(latencies, 99)), 2),
    }


def matmul_ceiling(dim: int, ffn: int, rows: int = 1280, reps: int = 50) -> dict[str, Any]:
    """What this CPU's int8 matrix products allow: ONNX Runtime's fp32 MatMul against the same
    product quantised as the int8 export quantises it (dynamic activations, per-channel int8
    weights), at the encoder's shapes (``rows`` tokens: a batch of 64 texts of ~20 tokens); and the
    ratio for one transformer layer (4 products dim x dim, then dim x ffn and ffn x dim)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = Path(tempfile.mkdtemp(prefix="semrec-matmul-"))
    rng = np.random.default_rng(0)
    shapes = {"dim_dim": (dim, dim), "dim_ffn": (dim, ffn), "ffn_dim": (ffn, dim)}
    out: dict[str, Any] = {}
    for name, (k, n) in shapes.items():
        weight = numpy_helper.from_array((rng.normal(size=(k, n)) * 0.05).astype(np.float32), "W")
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
        feed = {"X": rng.normal(size=(rows, k)).astype(np.float32)}
        times = {}
        for label, path in (("fp32", fp32), ("int8", int8)):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for _ in range(5):
                session.run(None, feed)
            started = time.perf_counter()
            for _ in range(reps):
                session.run(None, feed)
            times[label] = (time.perf_counter() - started) / reps * 1000
        out[name] = {
            "fp32_ms": round(times["fp32"], 3),
            "int8_ms": round(times["int8"], 3),
            "speedup": round(times["fp32"] / times["int8"], 2),
        }
    layer = {
        label: 4 * out["dim_dim"][label] + out["dim_ffn"][label] + out["ffn_dim"][label]
        for label in ("fp32_ms", "int8_ms")
    }
    out["layer_speedup"] = round(layer["fp32_ms"] / layer["int8_ms"], 2)
    return out


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
    rows: dict[str, dict[str, Any]] = {}
    for name, (encoder, _, _) in encoders.items():
        rows[name] = speed(encoder, sample, singles)
        vectors = encoder.encode(sample)
        rows[name]["mean_cosine_to_torch"] = round(float(np.mean(np.sum(vectors * reference, axis=1))), 5)
        print(name, rows[name], file=sys.stderr, flush=True)
    config = torch_encoder.model.config
    ceiling = matmul_ceiling(int(config.hidden_size), int(config.intermediate_size))
    print("matmul", ceiling, file=sys.stderr, flush=True)
    base = rows["torch-fp32"]["texts_per_s_batch64"]
    for row in rows.values():
        row["speedup_batch64"] = round(row["texts_per_s_batch64"] / base, 2)
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
        # int8 against fp32 on ONNX Runtime: the encoder, and the matrix products alone
        "int8_vs_onnx_fp32": {
            "encoder": round(
                rows["onnx-int8"]["texts_per_s_batch64"] / rows["onnx-fp32"]["texts_per_s_batch64"], 2
            ),
            "matmul": ceiling,
        },
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()

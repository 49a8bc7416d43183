"""Which int8 export is fastest here at cosine >= 0.99: the ways of quantising the encoder side by side
in one run, each against PyTorch fp32 on the same texts.

usage: python benchmarks/int8_variants.py [--data ../shared/datasets/amazon-beauty] [--texts 1536]
       [--out results.json]

Variants of ONNX Runtime's dynamic quantisation of the plain exported graph: int8 weights per
channel or per tensor, with the weights' range reduced to 7 bits or not (reduce_range: safer on CPUs
without VNNI, whose 8-bit products can saturate), and the session on 1 or 2 threads. The shipped
export (`semrec export --backend onnx-int8`) is per channel, full range, the machine's threads.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from semrec.data.loader import load_dataset
from semrec.data.text import catalog_texts
from semrec.encoders.onnx_export import export_encoder, export_graph
from semrec.encoders.onnx_runtime import OnnxTextEncoder
from semrec.encoders.transformer import TextEncoder
from semrec.hardware import cpu_info

ROOT = Path(__file__).resolve().parents[1]


def rate(encoder: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    encoder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--texts", type=int, default=1536)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    texts = catalog_texts(load_dataset(args.data).items)
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), args.texts, replace=False)]
    torch.set_num_threads(2)
    reference = TextEncoder("minilm", device="cpu")
    base, vectors = rate(reference, sample)
    work = Path(tempfile.mkdtemp(prefix="semrec-int8-"))
    plain = export_encoder(reference, work / "int8", "onnx-int8")  # the shipped variant
    fp32 = export_encoder(reference, work / "fp32-plain", "onnx")  # (fused) fp32, for the ratio
    rows: dict[str, dict[str, Any]] = {}
    speed, got = rate(OnnxTextEncoder(fp32), sample)
    rows["onnx-fp32"] = {"texts_per_s": round(speed, 1)}
    source = work / "unfused.onnx"
    export_graph(reference, source)  # the plain fp32 graph the int8 export quantises
    for per_channel in (True, False):
        for reduce_range in (False, True):
            name = (
                f"int8-{'per-channel' if per_channel else 'per-tensor'}{'-reduced' if reduce_range else ''}"
            )
            folder = work / name
            folder.mkdir()
            for extra in plain.iterdir():
                if extra.suffix != ".onnx":
                    (folder / extra.name).write_bytes(extra.read_bytes())
            quantize_dynamic(
                str(source),
                str(folder / "model-int8.onnx"),
                per_channel=per_channel,
                reduce_range=reduce_range,
                weight_type=QuantType.QInt8,
            )
            for threads in (2, 1):
                speed, got = rate(OnnxTextEncoder(folder, threads=threads), sample)
                rows[f"{name}-threads{threads}"] = {
                    "texts_per_s": round(speed, 1),
                    "mean_cosine_to_torch": round(float(np.mean(np.sum(got * vectors, axis=1))), 5),
                }
    for row in rows.values():
        row["vs_torch_fp32"] = round(row["texts_per_s"] / base, 2)
    document = {
        "machine": {"cpu": cpu_info(), "torch": torch.__version__, "onnxruntime": ort.__version__},
        "texts": args.texts,
        "batch_size": 64,
        "torch_fp32_texts_per_s": round(base, 1),
        "variants": rows,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

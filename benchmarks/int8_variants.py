"""Which int8 export is fastest here at cosine >= 0.99: the ways of quantising the encoder side by side
in one run, in interleaved rounds, each against PyTorch fp32 and ONNX fp32 on the same texts.

usage: python benchmarks/int8_variants.py [--data ../shared/datasets/amazon-beauty] [--texts 1536]
       [--rounds 6] [--only NAME,NAME] [--out results.json]

Variants, all of ONNX Runtime's quantiser:
- dynamic (activations quantised per batch as they come) of the plain exported graph: int8 weights
  per channel or per tensor; the weights' range reduced to 7 bits or not (reduce_range: safer on
  CPUs without VNNI, whose 8-bit products can saturate); uint8 weights (the u8u8 kernels);
  the session on 1 or 2 threads;
- dynamic of the fused graph (attention, skip-layer-norm and bias-GELU as single operators):
  every operator the quantiser knows, as the shipped export (attention as QAttention), or all but
  the attention;
- static (activation ranges calibrated beforehand on 256 other catalog texts, min-max; products
  with a weight only, as the dynamic ones), in the QOperator format (quantised operators) and the
  QDQ format (quantise-dequantise pairs around fp32 operators, which ONNX Runtime fuses).
The shipped export (`semrec export --backend onnx-int8`) is dynamic, plain graph, per channel, full
range, the machine's threads. The speed-ups are medians of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from encode import interleaved, speedups
from semrec.data.loader import load_dataset
from semrec.data.text import catalog_texts
from semrec.encoders.onnx_export import export_encoder, export_fused_graph, export_graph
from semrec.encoders.onnx_runtime import MODEL_FILES, OnnxTextEncoder
from semrec.encoders.protocol import Encoder
from semrec.encoders.transformer import TextEncoder
from semrec.hardware import cpu_info

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (
    "dynamic-plain-per-channel-reduced",
    "dynamic-plain-per-tensor",
    "dynamic-plain-per-channel-uint8-weights",
    "dynamic-fused-qattention",
    "dynamic-fused-attention-fp32",
    "static-qoperator",
    "static-qdq",
)


class Calibration:
    """Batches of tokenised texts for static quantisation (ONNX Runtime's CalibrationDataReader)."""

    def __init__(self, encoder: OnnxTextEncoder, texts: list[str], batch: int = 32) -> None:
        self.batches = [encoder.feed(texts[start : start + batch]) for start in range(0, len(texts), batch)]
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self.batches)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--texts", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated variant names to build beside the shipped one (default: all)",
    )
    args = parser.parse_args()
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    if wanted - set(VARIANTS):
        parser.error(
            f"--only: unknown variants {sorted(wanted - set(VARIANTS))}; choose from {list(VARIANTS)}"
        )
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    texts = catalog_texts(load_dataset(args.data).items)
    order = np.random.default_rng(0).permutation(len(texts))
    sample = [texts[i] for i in order[: args.texts]]
    calibration = [texts[i] for i in order[-256:]]  # never in the sample
    torch.set_num_threads(2)
    reference = TextEncoder("minilm", device="cpu")
    work = Path(tempfile.mkdtemp(prefix="semrec-int8-"))
    out = args.out.resolve() if args.out is not None else None
    os.chdir(work)  # the quantiser leaves scratch files in the working directory
    shipped = export_encoder(reference, work / "int8", "onnx-int8")
    fp32 = export_encoder(reference, work / "fp32", "onnx")  # (fused) fp32, for the ratio
    plain, fused = work / "plain.onnx", work / "fused.onnx"
    export_graph(reference, plain)  # the graph the shipped export quantises
    if not export_fused_graph(reference, fused):
        raise SystemExit("the transformer fusion did not apply: the fused variants would not be fused")
    prepared = work / "plain-prepared.onnx"  # static quantisation wants shapes inferred
    quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
    tokenizing = OnnxTextEncoder(shipped)
    # the fused graph's operators come from ONNX Runtime's own domain, which shape inference
    # cannot type: the quantiser is told their outputs are float
    untyped = {"DefaultTensorType": onnx.TensorProto.FLOAT}

    def dynamic(source: Path, **options: Any) -> Callable[[Path], None]:
        return lambda target: quantize_dynamic(str(source), str(target), **options)

    def static(form: Any) -> Callable[[Path], None]:
        return lambda target: quantize_static(
            str(prepared),
            str(target),
            Calibration(tokenizing, calibration),  # each quantisation reads the batches afresh
            quant_format=form,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # only products with a weight, as the dynamic variants: attention's own products stay fp32
            extra_options={"MatMulConstBOnly": True},
        )

    channel = {"per_channel": True, "weight_type": QuantType.QInt8}
    builders: dict[str, Callable[[Path], None]] = {
        "dynamic-plain-per-channel-reduced": dynamic(plain, reduce_range=True, **channel),
        "dynamic-plain-per-tensor": dynamic(plain, per_channel=False, weight_type=QuantType.QInt8),
        "dynamic-plain-per-channel-uint8-weights": dynamic(
            plain, per_channel=True, weight_type=QuantType.QUInt8
        ),
        # every operator the quantiser knows, as the shipped export: the fused attention as QAttention
        "dynamic-fused-qattention": dynamic(fused, extra_options=untyped, **channel),
        "dynamic-fused-attention-fp32": dynamic(
            fused, op_types_to_quantize=["MatMul", "Gather"], extra_options=untyped, **channel
        ),
        "static-qoperator": static(QuantFormat.QOperator),
        "static-qdq": static(QuantFormat.QDQ),
    }
    encoders: dict[str, Encoder] = {
        "torch-fp32": reference,
        "onnx-fp32": OnnxTextEncoder(fp32),
        "dynamic-plain-per-channel (shipped)": OnnxTextEncoder(shipped),
        "dynamic-plain-per-channel (shipped), 1 thread": OnnxTextEncoder(shipped, threads=1),
    }
    assert set(builders) == set(VARIANTS)
    for name, build in builders.items():
        if wanted and name not in wanted:
            continue
        folder = work / name
        shutil.copytree(shipped, folder)  # tokenizer and manifest; the graph is replaced
        build(folder / MODEL_FILES["onnx-int8"])
        encoders[name] = OnnxTextEncoder(folder)
    vectors = reference.encode(sample)
    cosine = {
        name: round(float(np.mean(np.sum(encoder.encode(sample) * vectors, axis=1))), 5)
        for name, encoder in encoders.items()
    }
    # one order every round, as when benchmarks/results/encode-int8-variants-*.json were written
    seconds = interleaved(encoders, sample, args.rounds, rotate=False)
    over_torch = speedups(seconds, "torch-fp32", len(sample))
    over_fp32 = speedups(seconds, "onnx-fp32", len(sample))
    rows = {
        name: {
            "texts_per_s": over_torch[name]["texts_per_s"],
            "vs_torch_fp32": over_torch[name]["speedup"],
            "vs_onnx_fp32": over_fp32[name]["speedup"],
            "mean_cosine_to_torch": cosine[name],
        }
        for name in encoders
    }
    document = {
        "machine": {"cpu": cpu_info(), "torch": torch.__version__, "onnxruntime": ort.__version__},
        "texts": args.texts,
        "rounds": args.rounds,
        "batch_size": 64,
        "variants": rows,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()

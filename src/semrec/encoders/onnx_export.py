"""Exporting a PyTorch text encoder to ONNX Runtime (fp32, with the transformer operators fused,
or dynamic int8 with per-channel weights): the transformer without pooling, through
``torch.onnx.export``; :mod:`semrec.encoders.onnx_runtime` runs what this writes."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from semrec.encoders.onnx_runtime import MODEL_FILES, Backend, pool
from semrec.encoders.transformer import TextEncoder

log = logging.getLogger("semrec.encoders")


class _Transformer(torch.nn.Module):
    """Wraps the Hugging Face model so the exported graph has plain tensor inputs and one output."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_encoder(encoder: TextEncoder, out: Path, backend: Backend) -> Path:
    """Writes ``out/`` with the ONNX model (fp32 or int8), the tokenizer and a manifest; returns out."""
    if backend not in MODEL_FILES:
        raise ValueError(f"backend {backend!r} cannot be exported; choose one of {list(MODEL_FILES)}")
    out = Path(out)
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    fp32 = staging / MODEL_FILES["onnx"]
    # int8 quantises the unfused graph: the fused one quantised (attention as QAttention) measured
    # within a few percent of it on a CPU without VNNI, and was not measured with VNNI
    # (benchmarks/int8_variants.py)
    if backend == "onnx":
        export_fused_graph(encoder, fp32)
    else:
        export_graph(encoder, fp32)
    if backend == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # per-channel weights keep cosine ~0.99 to fp32; per-tensor int8 loses much more
        quantize_dynamic(
            str(fp32), str(staging / MODEL_FILES["onnx-int8"]), per_channel=True, weight_type=QuantType.QInt8
        )
        fp32.unlink()
    encoder.tokenizer.save_pretrained(staging)
    manifest = {
        "backend": backend,
        "source": str(encoder.path),
        "source_fingerprint": encoder.fingerprint(),
        "max_length": encoder.max_length,
        "pooling": encoder.pooling,
        "dim": encoder.dim,
    }
    (staging / "semrec-encoder.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def export_fused_graph(encoder: TextEncoder, path: Path) -> bool:
    """The transformer as an fp32 graph at ``path`` with ONNX Runtime's fused operators where they
    give the same vectors (returns whether they did): the plain (eager) attention traces to the
    pattern ONNX Runtime fuses into one operator, the default scaled-dot-product form does not."""
    attention = getattr(encoder.model.config, "_attn_implementation", None)
    _set_attention(encoder.model, "eager")
    try:
        export_graph(encoder, path)
    finally:
        _set_attention(encoder.model, attention)
    return fuse_transformer(path, encoder)


def export_graph(encoder: TextEncoder, path: Path) -> None:
    """The transformer (without pooling) as an fp32 ONNX graph at ``path``, batch and length dynamic."""
    # export restores each module's mode afterwards: the wrapper must be in eval mode too, or the
    # encoder would be left training (dropout on) for whoever uses it next
    model = _Transformer(encoder.model.to("cpu")).eval()
    sample = encoder.tokenizer(["an example product title"], return_tensors="pt")
    try:
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "last_hidden_state": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )
    finally:
        encoder.model.eval()


def _set_attention(model: torch.nn.Module, implementation: str | None) -> None:
    setter = getattr(model, "set_attn_implementation", None)
    if implementation is not None and callable(setter):
        setter(implementation)


def fuse_transformer(path: Path, encoder: TextEncoder) -> bool:
    """Rewrites the exported graph with ONNX Runtime's fused transformer operators (attention,
    skip-layer-norm, bias-GELU) when the fused graph gives the same vectors; returns whether it did."""
    import onnxruntime as ort
    from onnxruntime.transformers.optimizer import optimize_model

    config = encoder.model.config
    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    if not heads or not hidden:
        return False
    fused_path = path.with_name(f"fused-{path.name}")
    try:
        fused = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
        fused.save_model_to_file(str(fused_path))
    except Exception as error:  # an architecture the fusion rules do not know: keep the plain graph
        log.info("transformer fusion skipped: %s", error)
        return False
    texts = ["an example product title", "Tea Tree Shampoo 12 oz, gentle daily cleanser for all hair types"]
    batch = encoder.tokenizer(texts, padding=True, return_tensors="np")
    feed = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    outputs = []
    for graph in (path, fused_path):
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        outputs.append(pool(session.run(None, feed)[0], feed["attention_mask"], encoder.pooling))
    agree = float(np.min(np.sum(outputs[0] * outputs[1], axis=1))) > 0.99999
    if agree:
        fused_path.replace(path)
    else:
        log.info("transformer fusion changed the vectors; the plain graph is kept")
        fused_path.unlink()
    return agree

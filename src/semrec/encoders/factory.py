"""One way to get a text encoder from a reference: 'minilm', a Hugging Face folder, or an exported
ONNX folder (from `semrec export`)."""

from __future__ import annotations

from pathlib import Path

from semrec.encoders.protocol import Encoder


def is_exported(reference: str | Path | None) -> bool:
    return reference is not None and (Path(str(reference)) / "semrec-encoder.json").exists()


def load_encoder(
    reference: str | Path | None,
    max_length: int = 64,
    batch_size: int = 64,
    device: str = "auto",
    layers: int | None = None,
    precision: str = "fp32",
) -> Encoder:
    """An exported folder runs on ONNX Runtime (its own max_length and precision); anything else on
    PyTorch, in ``precision`` (fp32, or bf16 on a CPU or GPU with bfloat16 arithmetic)."""
    if is_exported(reference):
        from semrec.encoders.onnx_runtime import OnnxTextEncoder

        return OnnxTextEncoder(Path(str(reference)), batch_size=batch_size)
    from semrec.encoders.transformer import TextEncoder

    return TextEncoder(
        reference,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        layers=layers,
        precision=precision,
    )

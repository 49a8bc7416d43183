"""ONNX Runtime backends give the same vectors as PyTorch (fp32) or nearly (int8), in any batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from semrec.cli import app
from semrec.data.text import catalog_texts
from semrec.encoders.factory import load_encoder
from semrec.encoders.onnx_export import export_encoder
from semrec.encoders.onnx_runtime import OnnxTextEncoder
from semrec.encoders.transformer import TextEncoder
from tests.conftest import DATASETS, require_shared


@pytest.fixture(scope="module")
def titles() -> list[str]:
    items = pd.read_csv(require_shared(DATASETS / "amazon-beauty") / "items.csv", dtype=str)
    return catalog_texts(items.sample(200, random_state=0))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    encoder = TextEncoder("minilm", device="cpu")
    out = {backend: export_encoder(encoder, root / backend, backend) for backend in ("onnx", "onnx-int8")}
    assert not encoder.model.training  # exporting leaves the encoder as it was: in eval mode
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_fp32_equals_torch_and_int8_stays_close(titles: list[str], exported: dict[str, Path]) -> None:
    reference = TextEncoder("minilm", device="cpu").encode(titles)
    fp32 = OnnxTextEncoder(exported["onnx"]).encode(titles)
    int8 = OnnxTextEncoder(exported["onnx-int8"]).encode(titles)
    assert cosines(reference, fp32).min() > 0.9999
    assert cosines(reference, int8).mean() >= 0.99
    assert (exported["onnx-int8"] / "model-int8.onnx").stat().st_size < 0.4 * (
        exported["onnx"] / "model.onnx"
    ).stat().st_size


def test_fp32_export_fuses_attention_and_keeps_the_encoder_as_it_was(exported: dict[str, Path]) -> None:
    import onnx

    graph = onnx.load(str(exported["onnx"] / "model.onnx"), load_external_data=False).graph
    operators = {node.op_type for node in graph.node}
    assert {"Attention", "SkipLayerNormalization", "BiasGelu"} <= operators, sorted(operators)
    int8 = onnx.load(str(exported["onnx-int8"] / "model-int8.onnx"), load_external_data=False).graph
    assert "MatMulInteger" in {node.op_type for node in int8.node}  # int8 weights, unfused graph
    encoder = TextEncoder("minilm", device="cpu")
    export_encoder(encoder, exported["onnx"].parent / "again", "onnx")
    assert encoder.model.config._attn_implementation != "eager"  # the torch model keeps its attention


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_batched_equals_one_by_one(titles: list[str], exported: dict[str, Path], backend: str) -> None:
    encoder = OnnxTextEncoder(exported[backend], batch_size=32)
    batched = encoder.encode(titles[:40])
    single = np.vstack([encoder.encode([t]) for t in titles[:40]])
    if backend == "onnx":
        assert np.allclose(batched, single, atol=1e-4)
    else:  # dynamic int8 scales activations per batch, so neighbours in a batch move a vector slightly
        assert cosines(batched, single).mean() > 0.985 and cosines(batched, single).min() > 0.97


def test_the_factory_picks_the_backend_and_fingerprints_differ(exported: dict[str, Path]) -> None:
    onnx = load_encoder(exported["onnx-int8"])
    torch_encoder = load_encoder("minilm", device="cpu")
    assert isinstance(onnx, OnnxTextEncoder) and isinstance(torch_encoder, TextEncoder)
    assert onnx.fingerprint() != torch_encoder.fingerprint() and onnx.dim == torch_encoder.dim == 384


def test_pruned_encoder_keeps_the_first_layers(titles: list[str]) -> None:
    full = TextEncoder("minilm", device="cpu")
    pruned = TextEncoder("minilm", device="cpu", layers=3)
    assert len(pruned.model.encoder.layer) == 3 and pruned.fingerprint() != full.fingerprint()
    a, b = full.encode(titles[:50]), pruned.encode(titles[:50])
    assert cosines(a, b).mean() < 0.99  # a different model, with its own vector space
    upper = np.triu_indices(50, 1)  # ... that still finds the same titles alike
    assert np.corrcoef((a @ a.T)[upper], (b @ b.T)[upper])[0, 1] > 0.5
    with pytest.raises(ValueError, match="between 1 and 6"):
        TextEncoder("minilm", device="cpu", layers=9)


def test_export_command_makes_the_server_use_the_backend(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from semrec.online.runtime import ModelRuntime

    artifacts = tmp_path / "art"
    shutil.copytree(shop_artifacts["text-zeroshot"], artifacts)
    result = CliRunner().invoke(app, ["export", "--artifacts", str(artifacts), "--backend", "onnx-int8"])
    assert result.exit_code == 0, result.output
    runtime = ModelRuntime(artifacts)
    assert isinstance(runtime.encoder, OnnxTextEncoder) and runtime.encoder.backend == "onnx-int8"
    bad = CliRunner().invoke(app, ["export", "--artifacts", str(artifacts), "--backend", "tflite"])
    assert bad.exit_code == 2 and "onnx-int8" in bad.output

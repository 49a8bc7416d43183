"""The CPU description benchmarks write beside their figures."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from semrec.hardware import cpu_info

SAMPLE = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16
"""


def test_the_cpu_model_cores_and_instruction_sets_are_read_from_cpuinfo() -> None:
    info = cpu_info(SAMPLE)
    assert info["model"] == "AMD EPYC 9R14" and info["cores"] == 2
    flags = info["flags"]
    assert isinstance(flags, dict)
    assert flags["avx2"] and flags["avx512"] and flags["avx512_vnni"] and flags["avx512_bf16"]
    assert not flags["amx"] and not flags["avx_vnni"]


def test_a_machine_without_cpuinfo_still_names_its_processor() -> None:
    info = cpu_info("")
    assert info["flags"] == {} and info["cores"] is None and isinstance(info["model"], str)


def test_this_machine_is_described() -> None:
    info = cpu_info()
    assert info["model"]


def test_embedding_says_which_backend_and_cpu(caplog: pytest.LogCaptureFixture) -> None:
    from semrec.encoders.batching import log_backend
    from semrec.encoders.transformer import TextEncoder

    with caplog.at_level(logging.INFO, logger="semrec.encoders"):
        log_backend(TextEncoder(precision="bf16"))
    assert "embedding with torch-bf16 on " in caplog.text


def test_queries_take_int8_where_the_cpu_has_vnni_and_onnx_fp32_elsewhere() -> None:
    from semrec.encoders.choice import choose_query_backend

    class Torch:
        backend = "torch-fp32"
        device = "cpu"

    class Gpu(Torch):
        device = "cuda"

    class Exported:
        backend = "onnx-int8"

    torch: Any = Torch()
    gpu: Any = Gpu()
    exported: Any = Exported()
    vnni = {"avx2": True, "avx512_vnni": True}
    plain = {"avx2": True, "avx512_vnni": False, "avx_vnni": False}
    assert choose_query_backend("auto", vnni, torch) == "onnx-int8"
    assert choose_query_backend("auto", {"amx_int8": True}, torch) == "onnx-int8"
    assert choose_query_backend("auto", plain, torch) == "onnx-fp32"  # without VNNI: exact, faster
    assert choose_query_backend("auto", {}, torch) == "torch-fp32"  # flags unknown
    assert choose_query_backend("auto", vnni, gpu) == "torch-fp32"  # a GPU embeds its own queries
    assert choose_query_backend("auto", vnni, exported) == "onnx-int8"
    assert choose_query_backend("auto", plain, exported) == "onnx-int8"
    assert choose_query_backend("same", vnni, torch) == "torch-fp32"
    assert choose_query_backend("onnx-fp32", plain, torch) == "onnx-fp32"
    with pytest.raises(ValueError, match="choose one of"):
        choose_query_backend("tpu", vnni, torch)


PROBE = """
import sys
from semrec.encoders.choice import exported_copy
from semrec.encoders.transformer import TextEncoder
print(exported_copy(TextEncoder(), "onnx-int8"))
"""


def test_the_query_encoders_export_is_made_once_and_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from semrec.encoders.choice import exported_copy
    from semrec.encoders.onnx_runtime import OnnxTextEncoder
    from semrec.encoders.transformer import TextEncoder

    # two server processes starting at once over one cache
    env = {**os.environ, "SEMREC_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    starts = [
        subprocess.Popen([sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    folders = {Path(start.communicate(timeout=300)[0].strip().splitlines()[-1]) for start in starts}
    assert all(start.returncode == 0 for start in starts) and len(folders) == 1
    (folder,) = folders
    assert OnnxTextEncoder(folder).backend == "onnx-int8"
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing left over
    stamp = (folder / "semrec-encoder.json").stat().st_mtime
    monkeypatch.setenv("SEMREC_CACHE", str(tmp_path))
    assert exported_copy(TextEncoder(), "onnx-int8") == folder  # the next start reuses it
    assert (folder / "semrec-encoder.json").stat().st_mtime == stamp


def test_a_query_export_that_fails_leaves_auto_on_the_products_encoder(
    shop_artifacts: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import semrec.online.runtime as runtime

    def unwritable(encoder: Any, backend: str) -> Path:
        raise PermissionError("the cache cannot be written")

    monkeypatch.setattr(runtime, "exported_copy", unwritable)
    monkeypatch.setattr(runtime, "_flags", lambda: {"avx2": True, "avx512_vnni": True})
    with caplog.at_level(logging.WARNING, logger="semrec.online"):
        served = runtime.ModelRuntime(shop_artifacts["text-zeroshot"], query_encoder="auto")
    assert served.query_encoder is served.encoder  # the server starts, queries as before
    assert "no onnx-int8 export" in caplog.text and "cannot be written" in caplog.text
    with pytest.raises(PermissionError):  # a backend asked for by name is not silently replaced
        runtime.ModelRuntime(shop_artifacts["text-zeroshot"], query_encoder="onnx-int8")

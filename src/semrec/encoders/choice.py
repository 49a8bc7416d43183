"""Which backend embeds search queries, from what the CPU offers, and the export it needs (made once,
then cached)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from semrec.encoders.batching import cache_dir
from semrec.encoders.protocol import Encoder

if TYPE_CHECKING:
    from semrec.encoders.transformer import TextEncoder

log = logging.getLogger("semrec.encoders")

QUERY_BACKENDS = ("auto", "same", "onnx-fp32", "onnx-int8")
_EXPORTING = threading.Lock()
VNNI = ("avx512_vnni", "avx_vnni", "amx_int8")  # one instruction per 8-bit dot product of 4 pairs


def choose_query_backend(setting: str, flags: dict[str, bool], encoder: Encoder) -> str:
    """The backend for queries: the setting, or for ``auto`` from the CPU's flags, for a PyTorch
    products' encoder: onnx-int8 where the CPU multiplies 8-bit numbers natively (VNNI: measured
    3.85x PyTorch fp32 at batch 64 and 6.8x at batch 1, mean cosine 0.992); elsewhere onnx-fp32,
    the same vectors (cosine 1.0) 2.6-3.3x faster at batch 1, where int8 without VNNI gains little
    more (benchmarks/README.md, "Text encoder"). Flags unknown, an encoder already exported or one
    on a GPU: the products' own encoder."""
    if setting not in QUERY_BACKENDS:
        raise ValueError(f"query encoder {setting!r} is not allowed; choose one of {list(QUERY_BACKENDS)}")
    if setting != "auto":
        return encoder.backend if setting == "same" else setting
    on_cpu = str(getattr(encoder, "device", "cpu")) == "cpu"
    if not encoder.backend.startswith("torch") or not flags or not on_cpu:
        return encoder.backend
    return "onnx-int8" if any(flags.get(flag) for flag in VNNI) else "onnx-fp32"


def exported_copy(encoder: Encoder, backend: str) -> Path:
    """A folder holding ``encoder`` exported to ``backend`` (onnx-fp32 or onnx-int8), written once
    per encoder and backend under the cache directory."""
    from semrec.encoders.transformer import TextEncoder

    if not isinstance(encoder, TextEncoder):
        raise ValueError(f"only a PyTorch encoder can be exported, not {encoder.backend}")
    with _EXPORTING:  # torch's ONNX export keeps global state: one at a time in a process
        return _export_once(encoder, backend)


def _export_once(encoder: TextEncoder, backend: str) -> Path:
    from semrec.encoders.onnx_export import export_encoder

    target = cache_dir() / "encoders" / f"{encoder.fingerprint()}-{backend}"
    if (target / "semrec-encoder.json").exists():
        return target
    log.info("exporting the query encoder to %s (once; kept in %s)", backend, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # several server processes may start at once: each exports to a folder of its own, the first
    # to finish moves it into place, the others use that one
    mine = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    export_encoder(encoder, mine / "export", "onnx" if backend == "onnx-fp32" else "onnx-int8")
    try:
        os.rename(mine / "export", target)
    except OSError:
        if not (target / "semrec-encoder.json").exists():
            raise
    finally:
        shutil.rmtree(mine, ignore_errors=True)
    return target

"""Encoding in batches of similar length, and vectors cached by model and texts: for every backend."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semrec.encoders.protocol import Encoder
from semrec.progress import track

log = logging.getLogger("semrec.encoders")


def encode_by_length(
    texts: Sequence[str],
    dim: int,
    batch_size: int,
    run: Callable[[list[str]], np.ndarray],
    progress: str | None = None,
) -> np.ndarray:
    """Encodes in batches of similar length (less padding), returning vectors in the input order."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    for start in track(starts, progress, len(starts)) if progress else starts:
        chunk = order[start : start + batch_size]
        out[chunk] = run([texts[i] for i in chunk])
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("SEMREC_CACHE", Path.home() / ".cache" / "semrec"))


def encode_cached(encoder: Encoder, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
    """Encodes ``texts``, reusing vectors stored for the same model and the same texts."""
    digest = hashlib.sha256(("\x00".join(texts)).encode()).hexdigest()[:16]
    path = cache_dir() / "vectors" / f"{encoder.fingerprint()}-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (len(texts), encoder.dim):
            return vectors
    vectors = encoder.encode(texts, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")  # processes embedding at once never share one
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors


def log_backend(encoder: Encoder) -> None:
    """Says in the log which backend embeds the catalog, on which CPU."""
    from semrec.hardware import cpu_info

    cpu = cpu_info()
    flags = cpu["flags"]
    offered = [name for name, present in flags.items() if present] if isinstance(flags, dict) else []
    log.info(
        "embedding with %s on %s (%s)", encoder.backend, cpu["model"], ", ".join(offered) or "flags unknown"
    )

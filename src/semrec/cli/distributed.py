"""Commands that can spread over a Ray cluster: ``semrec embed``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from semrec.cli.common import DataOption, app, console, fail
from semrec.data.errors import DatasetError


@app.command()
def embed(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Folder to write vectors.npy, item_ids.json and embed.json to.")],
    encoder: Annotated[
        str, typer.Option(help="minilm (bundled), a Hugging Face model folder, or an exported ONNX folder.")
    ] = "minilm",
    ray: Annotated[bool, typer.Option("--ray", help="Encode through Ray Data, on a pool of actors.")] = False,
    ray_workers: Annotated[int, typer.Option(help="--ray: encoder actors in the pool.")] = 2,
    ray_address: Annotated[
        str | None,
        typer.Option(help="--ray: the cluster to join (ray start printed it); a local one if not given."),
    ] = None,
    max_length: Annotated[int, typer.Option(help="Tokens per text.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Texts per encoder call.")] = 64,
) -> None:
    """Embed a catalog's product texts (as models read them) into unit vectors, here or on Ray."""
    import time

    from semrec.data.loader import load_dataset
    from semrec.data.text import catalog_texts

    if ray_workers < 1:
        raise fail(f"--ray-workers must be at least 1, not {ray_workers}")
    try:
        dataset = load_dataset(data)
    except (DatasetError, FileNotFoundError) as error:
        raise fail(str(error)) from None
    texts = catalog_texts(dataset.items)
    reference = encoder
    if ray:
        from semrec.distributed.cluster import connect
        from semrec.distributed.embed import embed_on_ray

        try:
            connect(ray_address)
        except RuntimeError as error:
            raise fail(str(error)) from None
        vectors, report = embed_on_ray(texts, reference, ray_workers, max_length, batch_size)
        backend = f"ray-data x{ray_workers}"
    else:
        from semrec.encoders.factory import load_encoder

        model = load_encoder(reference, max_length=max_length, batch_size=batch_size)
        started = time.perf_counter()
        vectors = model.encode(texts)
        seconds = time.perf_counter() - started
        report = {"workers": 1, "texts": len(texts), "seconds": round(seconds, 2),
                  "texts_per_s": round(len(texts) / max(seconds, 1e-9), 1)}  # fmt: skip
        backend = model.backend
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "vectors.npy", vectors.astype(np.float32))
    (out / "item_ids.json").write_text(json.dumps([str(i) for i in dataset.item_ids]))
    (out / "embed.json").write_text(
        json.dumps({"data": str(data), "encoder": encoder, "backend": backend, **report}, indent=2)
    )
    console.print(
        f"{len(texts):,} products embedded ({vectors.shape[1]} dimensions) with {backend} in "
        f"{report['seconds']} s ({report['texts_per_s']} texts/s); written to {out}",
        highlight=False,
    )

"""Commands for a shop's data and encoders: info, import, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from semrec.cli.common import (
    DataOption,
    app,
    console,
    fail,
)
from semrec.data.errors import DatasetError


@app.command()
def info(data: DataOption) -> None:
    """Validate a dataset folder and print its size."""
    from semrec.data.loader import load_dataset

    try:
        dataset = load_dataset(data)
    except DatasetError as error:
        raise fail(str(error)) from None
    table = Table(title=f"dataset {dataset.name} (valid)")
    table.add_column("property")
    table.add_column("value")
    for key, value in dataset.summary().items():
        table.add_row(
            key,
            ", ".join(value)
            if isinstance(value, list)
            else f"{value:,}"
            if isinstance(value, int)
            else str(value),
        )
    console.print(table)


@app.command("import")
def import_(
    interactions: Annotated[Path, typer.Option(help="Events file: .csv, .csv.gz, .jsonl or .parquet.")],
    out: Annotated[Path, typer.Option(help="Folder to write the dataset to.")],
    items: Annotated[Path | None, typer.Option(help="Catalog file (same formats).")] = None,
    user_col: Annotated[str, typer.Option(help="Events column holding the shopper id.")] = "user_id",
    item_col: Annotated[str, typer.Option(help="Events column holding the product id.")] = "item_id",
    time_col: Annotated[
        str, typer.Option(help="Events column holding the time ('' for none).")
    ] = "timestamp",
    title_col: Annotated[str, typer.Option(help="Catalog column holding the product title.")] = "title",
    catalog_id_col: Annotated[
        str | None, typer.Option(help="Catalog column holding the product id (default: --item-col).")
    ] = None,
) -> None:
    """Import a shop's own export into semrec's dataset format, validating every row."""
    from semrec.data.importer import ColumnMapping, import_dataset

    mapping = ColumnMapping(
        user=user_col,
        item=item_col,
        time=time_col or None,
        title=title_col,
        item_id_in_catalog=catalog_id_col,
    )
    try:
        dataset = import_dataset(interactions, out, mapping, items)
    except DatasetError as error:
        raise fail(str(error)) from None
    console.print(
        f"imported {dataset.n_interactions:,} events of {dataset.n_users:,} shoppers on "
        f"{dataset.n_items:,} items into {out}"
    )


@app.command()
def export(
    backend: Annotated[str, typer.Option(help="onnx (fp32) or onnx-int8 (dynamic int8, per-channel).")],
    artifacts: Annotated[
        Path | None, typer.Option(help="Export the encoder of these artifacts; the server then uses it.")
    ] = None,
    encoder: Annotated[
        str | None, typer.Option(help="Or export this encoder ('minilm' or a Hugging Face folder) to --out.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for a standalone export (with --encoder).")] = None,
    layers: Annotated[int | None, typer.Option(help="Keep only the first N transformer layers.")] = None,
    max_length: Annotated[int, typer.Option(help="Tokens per text (with --encoder).")] = 64,
) -> None:
    """Export a text encoder to ONNX Runtime (fp32 or int8) for faster embedding of items and queries.

    With --artifacts, a sequential model's networks (the shopper tower, new products' vectors) are
    exported as ONNX graphs beside it, and the server then runs them without loading torch."""
    import json
    import os

    from semrec.encoders.onnx_export import export_encoder
    from semrec.encoders.onnx_runtime import MODEL_FILES
    from semrec.encoders.transformer import TextEncoder

    if backend not in MODEL_FILES:
        raise fail(f"--backend {backend!r} is not allowed; choose one of {sorted(MODEL_FILES)}")
    if (artifacts is None) == (encoder is None):
        raise fail("give --artifacts DIR (export its encoder) or --encoder NAME --out DIR, one of them")
    try:
        if artifacts is not None:
            from semrec.artifacts import load_artifacts

            model, _, config = load_artifacts(artifacts)
            reference = getattr(model, "encoder_reference", None)
            settings = config["settings"]
            if "encoder" not in settings:
                raise ValueError(f"model {config['model']!r} has no text encoder to export")
            name = reference() if callable(reference) else settings["encoder"]
            length = int(settings.get("text_max_length", settings.get("max_length", 64)))
            pruned = int(settings.get("layers", 0)) or layers
            target = artifacts / f"encoder-{backend}"
            export_encoder(TextEncoder(name, max_length=length, device="cpu", layers=pruned), target, backend)  # type: ignore[arg-type]
            config["encoder_export"] = target.name
            if getattr(model, "net", None) is not None:  # sasrec, lmrec: their networks as graphs too
                from semrec.online.tower import export_graphs

                config["serving_export"] = export_graphs(model, artifacts).name
            staged = artifacts / ".config.json.tmp"
            staged.write_text(json.dumps(config, indent=2) + "\n")
            os.replace(staged, artifacts / "config.json")
        else:
            if out is None:
                raise ValueError("--encoder needs --out DIR")
            target = out
            source = TextEncoder(encoder, max_length=max_length, device="cpu", layers=layers)
            export_encoder(source, target, backend)  # type: ignore[arg-type]
    except ValueError as error:
        raise fail(str(error)) from None
    console.print(f"exported {backend} encoder to {target}")

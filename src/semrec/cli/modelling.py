"""Commands that fit, train, score and describe models: evaluate, train, models, recommend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from semrec.cli.common import (
    ColdFractionOption,
    DataOption,
    ParamOption,
    ProtocolOption,
    TestStartOption,
    ValidStartOption,
    app,
    check_protocol,
    console,
    fail,
    parse_params,
    print_results,
)
from semrec.data.errors import DatasetError


@app.command()
def evaluate(
    data: DataOption,
    model: Annotated[str | None, typer.Option("--model", help="Model to fit (see `semrec models`).")] = None,
    artifacts: Annotated[
        Path | None, typer.Option(help="Evaluate a trained model from this folder instead of fitting one.")
    ] = None,
    split: Annotated[str, typer.Option(help="Which targets to score: test or valid.")] = "test",
    out: Annotated[
        Path | None, typer.Option(help="Write every metric and setting to this JSON file.")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option(help="Write each shopper's top 50 (history excluded) as JSON lines.")
    ] = None,
    param: ParamOption = None,
    protocol: ProtocolOption = "loo",
    cold_fraction: ColdFractionOption = 0.1,
    valid_start: ValidStartOption = "2011-11-01",
    test_start: TestStartOption = "2011-11-15",
    batch_size: Annotated[int, typer.Option(help="Shoppers ranked at once.")] = 1024,
) -> None:
    """Fit a model (or load trained artifacts) and rank all items for every shopper of the split."""
    from semrec.evaluation.runner import RunSpec, run_evaluation, write_predictions, write_results

    if (model is None) == (artifacts is None):
        raise fail("give --model NAME to fit a model or --artifacts DIR to load a trained one (one of them)")
    if split not in ("test", "valid"):
        raise fail(f"--split {split!r} is not allowed; choose test or valid")
    check_protocol(protocol)
    spec = RunSpec(
        data=data,
        model=model,
        artifacts=artifacts,
        split=split,  # type: ignore[arg-type]
        params=parse_params(param or []),
        protocol=protocol,  # type: ignore[arg-type]
        valid_start=valid_start,
        test_start=test_start,
        batch_size=batch_size,
        cold_fraction=cold_fraction,
    )
    try:
        document, result, dataset = run_evaluation(spec)
    except (DatasetError, ValueError) as error:
        raise fail(str(error)) from None
    if out is not None:
        write_results(document, out)
    if predictions is not None:
        write_predictions(result, dataset, predictions)
    print_results(document)


@app.command()
def train(
    data: DataOption,
    model: Annotated[str, typer.Option("--model", help="sasrec or lmrec (any model of `semrec models`).")],
    out: Annotated[Path, typer.Option(help="Artifact folder to write (config, weights, item vectors).")],
    mode: Annotated[
        str | None, typer.Option(help="lmrec: frozen, lora or full (fine-tune the text encoder first).")
    ] = None,
    hybrid: Annotated[
        bool | None, typer.Option("--hybrid/--text-only", help="lmrec: add learnable item-ID embeddings.")
    ] = None,
    ranker: Annotated[
        bool | None,
        typer.Option(
            "--ranker/--no-ranker",
            help="sasrec, lmrec: add the ranking stage (re-scores retrieval's top 100; --param ranker=N "
            "for another N), fitted on validation.",
        ),
    ] = None,
    param: ParamOption = None,
    protocol: ProtocolOption = "loo",
    cold_fraction: ColdFractionOption = 0.1,
    valid_start: ValidStartOption = "2011-11-01",
    test_start: TestStartOption = "2011-11-15",
    batch_size: Annotated[int, typer.Option(help="Shoppers ranked at once during validation.")] = 1024,
    seed: Annotated[int | None, typer.Option(help="Random seed (sasrec, lmrec); default 42.")] = None,
    device: Annotated[
        str | None, typer.Option(help="sasrec, lmrec: auto (GPU when present), cpu, cuda or cuda:N.")
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(
            help="sasrec, lmrec: train data-parallel on this many Ray Train workers (DDP over gloo)."
        ),
    ] = None,
    ray_cpus_per_worker: Annotated[float, typer.Option(help="--ray-workers: CPUs per worker.")] = 1.0,
    ray_address: Annotated[
        str | None, typer.Option(help="--ray-workers: the cluster to join; a local one if not given.")
    ] = None,
    networks_from: Annotated[
        Path | None,
        typer.Option(
            help="sasrec, lmrec: keep the trained networks of these artifacts (same dataset, protocol "
            "and network settings) and fit only what follows them on validation: blend weights, new "
            "products' weights and offset, ranking stage."
        ),
    ] = None,
) -> None:
    """Train a model with early stopping on the validation split and save self-describing artifacts
    (protocol, dataset fingerprint, settings and code version in config.json).

    Training is resumable: an interrupted run continues from the checkpoint in --out, with the same
    settings and data only.
    """
    import logging

    from semrec.evaluation.runner import RunSpec, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    check_protocol(protocol)
    params = parse_params(param or [])
    if mode is not None:
        params["mode"] = mode
    if hybrid is not None:
        params["hybrid"] = str(hybrid)
    if seed is not None:
        params["seed"] = str(seed)
    if ranker is not None:
        params["ranker"] = params.get("ranker", "100") if ranker else "0"
    if device is not None:
        from semrec.encoders.transformer import check_device

        try:
            params["device"] = check_device(device)
        except ValueError as error:
            raise fail(f"--{error}") from None
    spec = RunSpec(
        data=data,
        model=model,
        params=params,
        batch_size=batch_size,
        protocol=protocol,  # type: ignore[arg-type]
        cold_fraction=cold_fraction,
        valid_start=valid_start,
        test_start=test_start,
    )
    if networks_from is not None:
        from semrec.evaluation.refit import run_refit

        if ray_workers is not None:
            raise fail("--networks-from trains no network: leave out --ray-workers")
        try:
            document = run_refit(spec, networks_from, out)
        except (DatasetError, ValueError) as error:
            raise fail(str(error)) from None
        print_results(document)
        console.print(f"artifacts written to {out} (networks of {networks_from})")
        return
    if ray_workers is not None:
        from semrec.distributed.train import train_on_ray

        try:
            summary = train_on_ray(spec, out, ray_workers, ray_cpus_per_worker, ray_address)
        except (DatasetError, ValueError, RuntimeError) as error:
            raise fail(str(error)) from None
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items())
        console.print(f"trained on Ray Train: {shown}", highlight=False, soft_wrap=True)
        console.print(f"artifacts written to {out}")
        return
    try:
        document = run_training(spec, out)
    except (DatasetError, ValueError) as error:
        raise fail(str(error)) from None
    print_results(document)
    console.print(f"artifacts written to {out}")


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="Show only this model's settings.")] = None,
) -> None:
    """List the available models and their settings (set them with --param KEY=VALUE)."""
    from semrec.models.registry import create_model, model_names
    from semrec.models.settings import describe

    names = model_names()
    if name is not None and name not in names:
        raise fail(f"unknown model {name!r}; available models: {', '.join(names)}")
    for model in [name] if name is not None else names:
        settings = describe(type(create_model(model).config))
        if not settings:
            console.print(f"[bold]{model}[/]: no settings\n")
            continue
        table = Table(title=model, title_justify="left", show_lines=False)
        table.add_column("setting", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("default", no_wrap=True)
        table.add_column("help")
        for item in settings:
            table.add_row(
                Text(item.name), Text(item.type), Text(_format_default(item.default)), Text(item.help)
            )
        console.print(table)
        console.print()


def _format_default(value: object) -> str:
    """A default as it is written with --param (true / false for switches)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@app.command()
def recommend(
    artifacts: Annotated[Path, typer.Option(help="Trained artifacts folder (semrec train --out).")],
    data: DataOption,
    users: Annotated[Path, typer.Option(help="File with one shopper id per line.")],
    out: Annotated[Path, typer.Option(help="JSON lines to write: user_id, items and scores, best first.")],
    k: Annotated[int, typer.Option("--k", help="Products per shopper.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Shoppers scored at once.")] = 1024,
) -> None:
    """Write batch lists (an e-mail campaign): each shopper's top k from trained artifacts, their
    history read from --data and never recommended, scored as the server scores its shortlist."""
    import json

    from semrec.batch import batch_lists, read_user_ids

    try:
        lines, counts = batch_lists(artifacts, data, read_user_ids(users), k, batch_size)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line) + "\n")
    except (DatasetError, ValueError, FileNotFoundError) as error:
        raise fail(str(error)) from None
    console.print(
        f"{counts.shoppers:,} lists written to {out} ({counts.known:,} shoppers with a history in "
        f"{data}; the others get the popularity order); {counts.history_items_unknown:,} history "
        "events name products the artifacts were not trained with and were left out",
        soft_wrap=True,
    )

"""The ``semrec`` command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from semrec.data.errors import DatasetError

app = typer.Typer(
    help="semrec: real-time recommendations for online shops, built on pretrained language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DataOption = Annotated[
    Path, typer.Option("--data", help="Dataset folder with items.csv and interactions.csv.gz.")
]
# the protocol and what shapes its split: `train` and `evaluate` take the same four
ProtocolOption = Annotated[
    str, typer.Option(help="loo (leave-one-out), time (global time split) or cold-items (new products).")
]
ColdFractionOption = Annotated[float, typer.Option(help="cold-items: share of items hidden from training.")]
ValidStartOption = Annotated[str, typer.Option(help="time protocol: first day of validation.")]
TestStartOption = Annotated[str, typer.Option(help="time protocol: first day of test.")]


def _print_version(value: bool) -> None:
    if value:
        from semrec import __version__

        console.print(f"semrec {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _check_protocol(protocol: str) -> None:
    if protocol not in ("loo", "time", "cold-items"):
        raise _fail(f"--protocol {protocol!r} is not allowed; choose loo, time or cold-items")


def _parse_params(values: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise _fail(f"--param {value!r} is not KEY=VALUE (for example --param decay=0.8)")
        params[key.strip()] = raw.strip()
    return params


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
    param: Annotated[list[str] | None, typer.Option(help="Model setting KEY=VALUE; repeatable.")] = None,
    protocol: ProtocolOption = "loo",
    cold_fraction: ColdFractionOption = 0.1,
    valid_start: ValidStartOption = "2011-11-01",
    test_start: TestStartOption = "2011-11-15",
    batch_size: Annotated[int, typer.Option(help="Shoppers ranked at once.")] = 1024,
) -> None:
    """Fit a model (or load trained artifacts) and rank all items for every shopper of the split."""
    from semrec.evaluation.runner import RunSpec, run_evaluation, write_predictions, write_results

    if (model is None) == (artifacts is None):
        raise _fail("give --model NAME to fit a model or --artifacts DIR to load a trained one (one of them)")
    if split not in ("test", "valid"):
        raise _fail(f"--split {split!r} is not allowed; choose test or valid")
    _check_protocol(protocol)
    spec = RunSpec(
        data=data,
        model=model,
        artifacts=artifacts,
        split=split,  # type: ignore[arg-type]
        params=_parse_params(param or []),
        protocol=protocol,  # type: ignore[arg-type]
        valid_start=valid_start,
        test_start=test_start,
        batch_size=batch_size,
        cold_fraction=cold_fraction,
    )
    try:
        document, result, dataset = run_evaluation(spec)
    except (DatasetError, ValueError) as error:
        raise _fail(str(error)) from None
    if out is not None:
        write_results(document, out)
    if predictions is not None:
        write_predictions(result, dataset, predictions)
    _print_results(document)


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
    param: Annotated[list[str] | None, typer.Option(help="Model setting KEY=VALUE; repeatable.")] = None,
    protocol: ProtocolOption = "loo",
    cold_fraction: ColdFractionOption = 0.1,
    valid_start: ValidStartOption = "2011-11-01",
    test_start: TestStartOption = "2011-11-15",
    batch_size: Annotated[int, typer.Option(help="Shoppers ranked at once during validation.")] = 1024,
) -> None:
    """Train a model with early stopping on the validation split and save self-describing artifacts
    (protocol, dataset fingerprint, settings and code version in config.json).

    Training is resumable: an interrupted run continues from the checkpoint in --out, with the same
    settings and data only.
    """
    import logging

    from semrec.evaluation.runner import RunSpec, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    _check_protocol(protocol)
    params = _parse_params(param or [])
    if mode is not None:
        params["mode"] = mode
    if hybrid is not None:
        params["hybrid"] = str(hybrid)
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
    try:
        document = run_training(spec, out)
    except (DatasetError, ValueError) as error:
        raise _fail(str(error)) from None
    _print_results(document)
    console.print(f"artifacts written to {out}")


def _print_results(document: dict[str, object]) -> None:
    metrics = document["metrics"]
    assert isinstance(metrics, dict)
    dataset = document["dataset"]
    assert isinstance(dataset, dict)
    title = (
        f"{document['model']['model']} on {dataset['name']} "  # type: ignore[index]
        f"({document['split']}, {document['evaluated_users']:,} shoppers, {dataset['items']:,} items)"
    )
    table = Table(title=title)
    table.add_column("K", justify="right")
    for name in ("HR", "NDCG", "MRR", "Recall"):
        table.add_column(name, justify="right")
    for k in (5, 10, 20, 50):
        table.add_row(str(k), *(f"{metrics[f'{m}@{k}']:.4f}" for m in ("hr", "ndcg", "mrr", "recall")))
    console.print(table)
    seconds = document["wall_time_seconds"]
    assert isinstance(seconds, dict)
    console.print(
        f"coverage@10 {metrics['coverage@10']:.4f}   "
        f"long-tail share@10 {metrics['long_tail_share@10']:.4f}   "
        f"fit {seconds['fit']:.1f}s   evaluate {seconds['evaluate']:.1f}s   total {seconds['total']:.1f}s"
    )


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="Show only this model's settings.")] = None,
) -> None:
    """List the available models and their settings (set them with --param KEY=VALUE)."""
    from semrec.models.registry import create_model, model_names
    from semrec.models.settings import describe

    names = model_names()
    if name is not None and name not in names:
        raise _fail(f"unknown model {name!r}; available models: {', '.join(names)}")
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
def info(data: DataOption) -> None:
    """Validate a dataset folder and print its size."""
    from semrec.data.loader import load_dataset

    try:
        dataset = load_dataset(data)
    except DatasetError as error:
        raise _fail(str(error)) from None
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
        raise _fail(str(error)) from None
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
    """Export a text encoder to ONNX Runtime (fp32 or int8) for faster embedding of items and queries."""
    import json
    import os

    from semrec.encoders.onnx_backend import MODEL_FILES, export_encoder
    from semrec.encoders.transformer import TextEncoder

    if backend not in MODEL_FILES:
        raise _fail(f"--backend {backend!r} is not allowed; choose one of {sorted(MODEL_FILES)}")
    if (artifacts is None) == (encoder is None):
        raise _fail("give --artifacts DIR (export its encoder) or --encoder NAME --out DIR, one of them")
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
        raise _fail(str(error)) from None
    console.print(f"exported {backend} encoder to {target}")


@app.command()
def serve(
    artifacts: Annotated[
        Path | None,
        typer.Option(help="Artifact folder to serve (or `artifacts` in --config / SEMREC_ARTIFACTS)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: 8000].")] = None,
    database: Annotated[Path | None, typer.Option(help="SQLite file for catalog and events.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes sharing the database [default: 1].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file of settings (docs/configuration.md).")
    ] = None,
) -> None:
    """Serve recommendations, similar products and search over HTTP (FastAPI + uvicorn)."""
    import logging

    import uvicorn
    from pydantic import ValidationError

    from semrec.serving.settings import load_settings

    overrides = {"artifacts": artifacts, "host": host, "port": port, "database": database, "workers": workers}
    try:
        settings = load_settings(config, **overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        raise _fail(f"invalid settings: {problems}") from None
    except ValueError as error:
        raise _fail(str(error)) from None
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if settings.workers > 1:
        _serve_workers(settings.workers, config, overrides, settings.host, settings.port, settings.log_level)
        return
    from semrec.serving.app import create_app

    try:
        server_app = create_app(settings)
    except ValueError as error:
        raise _fail(str(error)) from None
    console.print(
        f"serving {server_app.state.follower.engine.runtime.version} on http://{settings.host}:{settings.port}"
    )
    uvicorn.run(
        server_app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False
    )


def _serve_workers(
    workers: int, config: Path | None, overrides: Mapping[str, object], host: str, port: int, log_level: str
) -> None:
    """uvicorn's supervisor runs ``workers`` processes on one socket; each builds its app from the
    same inputs, and their metrics meet in one folder."""
    import json
    import os
    import shutil
    import tempfile

    import uvicorn

    from semrec.serving.app import WORKER_INPUTS

    given = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items() if v is not None}
    os.environ[WORKER_INPUTS] = json.dumps({"config": str(config) if config else None, "overrides": given})
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="semrec-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    console.print(f"serving with {workers} workers on http://{host}:{port}")
    try:
        uvicorn.run(
            "semrec.serving.app:create_worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def report(
    results: Annotated[
        list[Path], typer.Option("--results", help="results.json of `semrec evaluate --out`; repeatable.")
    ],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    benchmark: Annotated[
        list[Path] | None,
        typer.Option(help="JSON of benchmarks/serving.py --json (latency plots); repeatable."),
    ] = None,
) -> None:
    """Write one self-contained HTML report with plots (opens offline)."""
    from semrec.report import ReportError, write_report

    try:
        path = write_report(results, out, benchmark or [])
    except ReportError as error:
        raise _fail(str(error)) from None
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def quickstart(
    data: Annotated[Path, typer.Option(help="Dataset folder.")] = Path("../shared/datasets/amazon-beauty"),
    model: Annotated[str, typer.Option(help="lmrec (default), sasrec or text-zeroshot.")] = "lmrec",
    minutes: Annotated[float, typer.Option(help="Training time budget for a first run.")] = 10.0,
    workdir: Annotated[Path, typer.Option(help="Where artifacts, results and the database go.")] = Path(
        "quickstart"
    ),
    port: Annotated[int, typer.Option(help="TCP port of the server (loopback only).")] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server at the end.")
    ] = True,
) -> None:
    """Prepare a dataset, train (or reuse) a model, evaluate it, build the index and serve the demo shop.

    A second run reuses the trained artifacts and the database.
    """
    import json
    import logging
    import secrets

    from semrec.artifacts import read_config
    from semrec.evaluation.runner import RunSpec, run_evaluation, run_training, write_results

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("semrec").setLevel(logging.INFO)  # training progress: one line per epoch
    if model not in ("lmrec", "sasrec", "text-zeroshot"):
        raise _fail(f"--model {model!r} is not allowed; choose lmrec, sasrec or text-zeroshot")
    if not (data / "items.csv").exists():
        raise _fail(f"{data} is not a dataset folder (no items.csv); pass --data DIR")
    name = data.resolve().name
    artifacts = workdir / f"{name}-{model}"
    results = workdir / f"{name}-{model}-test.json"
    console.rule(f"semrec quickstart: {name}, {model}")
    try:
        if (artifacts / "config.json").exists():
            console.print(f"[1/3] reusing the trained model in {artifacts}")
        else:
            console.print(f"[1/3] training {model} on {name} (time budget {minutes:g} min)")
            params: dict[str, str] = {}
            if model != "text-zeroshot":
                # within a short budget, training each sequence in one pass gets further than one
                # example per target (the default, better when given its ~40 minutes)
                params = {"time_budget_minutes": str(minutes), "prefixes": "false", "eval_every": "2"}
            run_training(RunSpec(data=data, model=model, params=params), artifacts)
        document = json.loads(results.read_text()) if results.exists() else None
        created = read_config(artifacts).get("created")
        if document is not None and _results_match(document, artifacts, created):
            console.print(f"[2/3] test results already in {results}")
        else:
            if document is not None:
                console.print(f"[2/3] {results} was not written for these artifacts: evaluating again")
            console.print("[2/3] evaluating on the test split (full ranking)")
            document, _, _ = run_evaluation(RunSpec(data=data, artifacts=artifacts))
            write_results(document, results)
    except (DatasetError, ValueError) as error:
        raise _fail(str(error)) from None
    _print_results(document)
    if not serve_after:
        return
    console.print("[3/3] building the index and starting the server")
    import uvicorn

    from semrec.serving.app import create_app
    from semrec.serving.settings import ApiKey, ServerSettings

    admin_key = secrets.token_urlsafe(16)
    settings = ServerSettings(
        artifacts=artifacts,
        database=workdir / f"{name}.db",
        host="127.0.0.1",
        port=port,
        anonymous_scopes=["read", "write"],  # a local demo: loopback only, admin still needs the key
        api_keys=[ApiKey(name="quickstart-admin", key=admin_key, scopes=["read", "write", "admin"])],
    )
    server_app = create_app(settings)
    console.print(
        f"[bold green]demo shop:[/] http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs"
    )
    console.print(f"admin key for this run (reload, erase shoppers): {admin_key}")
    uvicorn.run(server_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _results_match(document: Mapping[str, object], artifacts: Path, created: object) -> bool:
    """Whether a results file scored exactly these artifacts (the folder and its training time)."""
    return (
        document.get("artifacts") == str(artifacts.resolve())
        and document.get("artifacts_created") == created
        and document.get("split") == "test"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""Commands that serve and show: serve, report, quickstart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from semrec.cli.common import (
    app,
    console,
    fail,
    print_results,
)
from semrec.data.errors import DatasetError


@app.command()
def serve(
    artifacts: Annotated[
        Path | None,
        typer.Option(help="Artifact folder to serve (or `artifacts` in --config / SEMREC_ARTIFACTS)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: 8000].")] = None,
    database: Annotated[
        str | None,
        typer.Option(help="Catalog and events: an SQLite file (path or sqlite:///path) or postgresql://..."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes sharing the database [default: 1].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file of settings (docs/configuration.md).")
    ] = None,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="Serve as a Ray Serve deployment of replicas (share a PostgreSQL store)."),
    ] = False,
    ray_replicas: Annotated[int, typer.Option(help="--ray: replicas (the fewest, when autoscaling).")] = 2,
    ray_max_replicas: Annotated[
        int | None, typer.Option(help="--ray: autoscale up to this many replicas on requests in flight.")
    ] = None,
    ray_cpus_per_replica: Annotated[float, typer.Option(help="--ray: CPUs Ray reserves per replica.")] = 1.0,
    ray_address: Annotated[
        str | None,
        typer.Option(help="--ray: the cluster to join (ray start printed it); a local one if not given."),
    ] = None,
) -> None:
    """Serve recommendations, similar products and search over HTTP (FastAPI + uvicorn, or Ray Serve)."""
    import logging

    import uvicorn
    from pydantic import ValidationError

    from semrec.settings import load_settings

    overrides = {"artifacts": artifacts, "host": host, "port": port, "database": database, "workers": workers}
    try:
        settings = load_settings(config, **overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        raise fail(f"invalid settings: {problems}") from None
    except ValueError as error:
        raise fail(str(error)) from None
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if ray:
        if settings.workers > 1:
            raise fail("--ray runs replicas instead of workers; leave workers at 1")
        from semrec.distributed.serve import serve_on_ray

        console.print(f"serving on Ray Serve at http://{settings.host}:{settings.port}")
        try:
            serve_on_ray(settings, ray_replicas, ray_max_replicas, ray_cpus_per_replica, ray_address)
        except (ValueError, RuntimeError) as error:
            raise fail(str(error)) from None
        return
    if settings.workers > 1:
        _serve_workers(settings.workers, config, overrides, settings.host, settings.port, settings.log_level)
        return
    from semrec.api.app import create_app

    try:
        server_app = create_app(settings)
    except ValueError as error:
        raise fail(str(error)) from None
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

    from semrec.api.app import WORKER_INPUTS

    given = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items() if v is not None}
    os.environ[WORKER_INPUTS] = json.dumps({"config": str(config) if config else None, "overrides": given})
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="semrec-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    console.print(f"serving with {workers} workers on http://{host}:{port}")
    try:
        uvicorn.run(
            "semrec.api.app:create_worker_app",
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
        typer.Option(
            help="JSON of benchmarks/serving.py --json (latency plots), benchmarks/replay.py "
            "(continual training), benchmarks/exposure.py (fair exposure) or benchmarks/soak.py; "
            "repeatable."
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML report with plots (opens offline)."""
    from semrec.report import ReportError, write_report

    try:
        path = write_report(results, out, benchmark or [])
    except ReportError as error:
        raise fail(str(error)) from None
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
        raise fail(f"--model {model!r} is not allowed; choose lmrec, sasrec or text-zeroshot")
    if not (data / "items.csv").exists():
        raise fail(f"{data} is not a dataset folder (no items.csv); pass --data DIR")
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
        raise fail(str(error)) from None
    print_results(document)
    if not serve_after:
        return
    console.print("[3/3] building the index and starting the server")
    import uvicorn

    from semrec.api.app import create_app
    from semrec.settings import ApiKey, ServerSettings

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

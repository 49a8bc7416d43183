"""What every command shares: the app, the consoles, the options of the protocol, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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
ParamOption = Annotated[list[str] | None, typer.Option(help="Model setting KEY=VALUE; repeatable.")]
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


def fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def check_protocol(protocol: str) -> None:
    if protocol not in ("loo", "time", "cold-items"):
        raise fail(f"--protocol {protocol!r} is not allowed; choose loo, time or cold-items")


def parse_params(values: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise fail(f"--param {value!r} is not KEY=VALUE (for example --param decay=0.8)")
        params[key.strip()] = raw.strip()
    return params


def print_results(document: dict[str, object]) -> None:
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

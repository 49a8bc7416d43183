"""The ``semrec`` command line: one module per group of commands, registered on one app."""

from __future__ import annotations

from semrec.cli import continual, data, distributed, modelling, serving
from semrec.cli.common import app

__all__ = ["app", "continual", "data", "distributed", "main", "modelling", "serving"]


def main() -> None:
    app()

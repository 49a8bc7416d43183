"""Progress bars for anything that takes more than a second (silent when not on a terminal or disabled)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def progress_enabled() -> bool:
    return os.environ.get("SEMREC_PROGRESS", "1") != "0"


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yields from ``items`` while drawing a progress bar on stderr."""
    if not progress_enabled():
        yield from items
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        yield from bar.track(items, total=total, description=description)

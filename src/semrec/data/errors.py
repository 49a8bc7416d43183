"""The one error type for bad input data: it names the file, the line and what is allowed."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """Raised when a dataset file is missing, malformed or inconsistent.

    Attributes:
        path: the file that holds the problem.
        line: 1-based line number in that file (None when the problem is the file as a whole).
        reason: what is wrong and what would be accepted.
    """

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}")

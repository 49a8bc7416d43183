"""Reading, validating, importing and splitting catalogs and events."""

from __future__ import annotations

from semrec.data.dataset import Dataset
from semrec.data.errors import DatasetError
from semrec.data.loader import load_dataset
from semrec.data.splits import EvalCases, Split, leave_one_out, time_split
from semrec.data.text import item_text

__all__ = [
    "Dataset",
    "DatasetError",
    "EvalCases",
    "Split",
    "item_text",
    "leave_one_out",
    "load_dataset",
    "time_split",
]

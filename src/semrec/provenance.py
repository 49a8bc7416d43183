"""Where a trained model and a figure come from: the protocol and split, the data's fingerprint, the
settings and the code. Artifacts, results files and checkpoints record it; whoever reads them back
compares it, so a model is never scored on a split it was trained on, nor resumed on other data."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import semrec

DATA_FILES = ("items.csv", "interactions.csv.gz", "interactions.csv")  # those present
# the keys of a protocol record that decide which events a model may train on
PROTOCOL_KEYS = ("protocol", "cold_fraction", "valid_cold_fraction", "valid_start", "test_start")


def dataset_fingerprint(directory: Path) -> str:
    """sha256 over the dataset's files (names and bytes), as 'sha256:<hex>'."""
    digest = hashlib.sha256()
    for name in DATA_FILES:
        path = Path(directory) / name
        if not path.exists():
            continue
        digest.update(name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


@cache
def code_version() -> dict[str, Any]:
    """semrec's version and, when it runs from a git checkout, the commit and whether files differ."""
    version: dict[str, Any] = {"semrec": semrec.__version__}
    root = Path(semrec.__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return version
        if commit:
            version["commit"] = commit
            version["modified"] = bool(dirty)
    return version


def protocol_record(protocol: str, cold_fraction: float, valid_start: str, test_start: str) -> dict[str, Any]:
    """The protocol and the settings of it that shape the split (only those that apply)."""
    record: dict[str, Any] = {"protocol": protocol}
    if protocol == "cold-items":
        record["cold_fraction"] = cold_fraction
        # validation's own new products, as a share of the items it ranks (artifacts without the key
        # hid half the test's share of all items: another training set, so they are refused)
        record["valid_cold_fraction"] = cold_fraction
    if protocol == "time":
        record["valid_start"], record["test_start"] = valid_start, test_start
    return record


def describe(record: Mapping[str, Any]) -> str:
    """'cold-items (cold_fraction 0.1, valid_cold_fraction 0.1)' for a protocol record."""
    extra = ", ".join(f"{k} {record[k]}" for k in PROTOCOL_KEYS[1:] if k in record)
    return f"{record.get('protocol', '?')}" + (f" ({extra})" if extra else "")


def mismatch(trained: Mapping[str, Any], wanted: Mapping[str, Any]) -> str | None:
    """Why a model trained under ``trained`` (a provenance record) must not be scored under ``wanted``,
    or None when they agree. Artifacts from before provenance was recorded were trained by
    leave-one-out (the only protocol ``semrec train`` had) on a dataset that cannot be checked."""
    had = {k: trained[k] for k in PROTOCOL_KEYS if k in trained} or {"protocol": "loo"}
    want = {k: wanted[k] for k in PROTOCOL_KEYS if k in wanted}
    if had != want:
        return f"they were trained under protocol {describe(had)}, not {describe(want)}"
    known, given = trained.get("dataset_fingerprint"), wanted.get("dataset_fingerprint")
    if known and given and known != given:
        return f"they were trained on other data (fingerprint {known[:19]}..., this dataset {given[:19]}...)"
    return None

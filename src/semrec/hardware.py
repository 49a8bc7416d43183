"""What the machine's CPU offers: its model and the instruction sets that decide encoder speed."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# /proc/cpuinfo flag -> the name benchmarks report it under
FLAGS = {
    "avx2": "avx2",
    "avx512f": "avx512",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "avx512_bf16": "avx512_bf16",
    "amx_tile": "amx",
    "amx_int8": "amx_int8",
    "amx_bf16": "amx_bf16",
}


def cpu_info(cpuinfo: str | None = None) -> dict[str, object]:
    """{"model": ..., "cores": ..., "flags": {name: bool}} from ``/proc/cpuinfo`` (or the text given);
    on a system without it, the model from :mod:`platform` and no flags known."""
    if cpuinfo is None:
        cpuinfo = _this_machine()
    model, flags, cores = platform.processor() or platform.machine(), set[str](), 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name":
            model = value.strip()
        elif key == "processor":
            cores += 1
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {
        "model": model,
        "cores": cores or None,
        "flags": {name: flag in flags for flag, name in FLAGS.items()} if flags else {},
    }


@functools.cache
def _this_machine() -> str:
    """This machine's /proc/cpuinfo, read once per process (it does not change while we run)."""
    path = Path("/proc/cpuinfo")
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

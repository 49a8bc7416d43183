"""The CPU description benchmarks write beside their figures."""

from __future__ import annotations

import logging

import pytest

from semrec.hardware import cpu_info

SAMPLE = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16
"""


def test_the_cpu_model_cores_and_instruction_sets_are_read_from_cpuinfo() -> None:
    info = cpu_info(SAMPLE)
    assert info["model"] == "AMD EPYC 9R14" and info["cores"] == 2
    flags = info["flags"]
    assert isinstance(flags, dict)
    assert flags["avx2"] and flags["avx512"] and flags["avx512_vnni"] and flags["avx512_bf16"]
    assert not flags["amx"] and not flags["avx_vnni"]


def test_a_machine_without_cpuinfo_still_names_its_processor() -> None:
    info = cpu_info("")
    assert info["flags"] == {} and info["cores"] is None and isinstance(info["model"], str)


def test_this_machine_is_described() -> None:
    info = cpu_info()
    assert info["model"]


def test_embedding_says_which_backend_and_cpu(caplog: pytest.LogCaptureFixture) -> None:
    from semrec.encoders.batching import log_backend
    from semrec.encoders.transformer import TextEncoder

    with caplog.at_level(logging.INFO, logger="semrec.encoders"):
        log_backend(TextEncoder(precision="bf16"))
    assert "embedding with torch-bf16 on " in caplog.text

"""The API contract under a fuzzer: schemathesis with every check on, against the real server.

    python benchmarks/fuzz.py --artifacts DIR [--examples 100] [--seed 1] [--out results/...]

Starts `semrec serve` on a loopback port with a fresh database (its key has every scope), runs
`st run` over the served OpenAPI schema (coverage, fuzzing and stateful phases, --examples per
operation and phase), and writes the run's counts: operations tested, cases generated, failures
and errors, with schemathesis's own JSON report beside them. The test suite runs the same with 15
examples (tests/test_contract.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from serving import KEY, machine, start_server, write_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="semrec-fuzz-"))
    process, url = start_server(args.artifacts, workdir, text_shortlist=True, admin=True)
    report = workdir / "schemathesis.json"
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"X-API-Key: {KEY}",
                "--max-examples",
                str(args.examples),
                "--seed",
                str(args.seed),
                "--no-color",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            capture_output=True,
            text=True,
            cwd=workdir,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    summary = json.loads(report.read_text())
    write_result(
        {
            "benchmark": "fuzz",
            "artifacts": str(args.artifacts),
            "machine": machine(),
            "settings": {k: str(v) for k, v in vars(args).items()},
            "schemathesis": summary["schemathesis_version"],
            "exit_code": summary["exit_code"],
            "operations": summary["operations"],
            "phases": summary["phases"],
            "test_cases": summary["test_cases"],
            "failures": summary["failures"],
            "errors": summary["errors"],
            "running_seconds": round(summary["running_time"], 1),
            "output_tail": run.stdout[-3000:],
        },
        args.out,
    )
    if summary["exit_code"] != 0:
        raise SystemExit(f"schemathesis found failures: see {args.out or 'the output'}")


if __name__ == "__main__":
    main()

"""Server start-up on trained artifacts against the same artifacts after `semrec export`.

usage: python benchmarks/startup.py --artifacts A [--repeats 3] [--out results.json]

Copies A to a temporary folder and runs `semrec export --backend onnx` on the copy (the encoder and
the networks as ONNX graphs). Then, in fresh interpreters, alternating between the two, it builds
the server app (`create_app`: the model, the store seeded with the catalog in a new SQLite file,
the catalog and its indexes) and reports the seconds from the first import to the app being ready,
the peak resident memory, and whether torch was loaded. One start of each comes first and is not
counted: it fills the catalog's text-vector cache of its encoder, as any first start does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from semrec.hardware import cpu_info

PROBE = """
import json, resource, sys, time
started = time.perf_counter()
from pathlib import Path
from semrec.api.app import create_app
from semrec.settings import ServerSettings
create_app(ServerSettings(artifacts=Path(sys.argv[1]), database=Path(sys.argv[2])))
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_loaded": "torch" in sys.modules,
}))
"""


def start(artifacts: Path, folder: Path, run: int) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMREC_PROGRESS": "0"}
    database = folder / f"start-{run}.db"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(artifacts), str(database)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    database.unlink()
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="semrec-startup-"))
    exported = Path(shutil.copytree(args.artifacts, folder / "exported"))
    command = [sys.executable, "-m", "semrec.cli", "export", "--backend", "onnx"]
    command += ["--artifacts", str(exported)]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    kinds = {"trained": args.artifacts, "exported": exported}
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for path in kinds.values():
        start(path, folder, -1)  # fills the encoder's cache of the catalog's text vectors
    for run in range(args.repeats):
        for kind, path in kinds.items():
            runs[kind].append(start(path, folder, run))
            print(kind, run, runs[kind][-1])
    summary = {
        kind: {
            "median_seconds": round(float(np.median([r["seconds"] for r in values])), 2),
            "median_peak_rss_mib": round(float(np.median([r["peak_rss_mib"] for r in values])), 1),
            "torch_loaded": all(r["torch_loaded"] for r in values),
        }
        for kind, values in runs.items()
    }
    print(json.dumps(summary, indent=2))
    shutil.rmtree(folder)
    if args.out is not None:
        from semrec.evaluation.runner import write_results

        document = {"artifacts": str(args.artifacts), "runs": runs, "summary": summary, "machine": cpu_info()}
        write_results(document, args.out)


if __name__ == "__main__":
    main()

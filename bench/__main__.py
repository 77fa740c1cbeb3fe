"""`make bench`: run every lab's benchmark and merge the results into ``bench/results.json``.

Each ``bench/bench_<name>.py`` exposes ``run() -> dict``. Ratios are always measured side by side
in the same run, so they hold on whatever machine runs this. ``python -m bench NAME ...`` runs only
the named benchmarks and keeps the others' previous results.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def available() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    names = parser.parse_args(argv).names or available()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        print(f"== {name}", flush=True)
        section = importlib.import_module(f"bench.bench_{name}").run()
        section["machine"] = machine()
        results[name] = section
        print(json.dumps(section, indent=2), flush=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

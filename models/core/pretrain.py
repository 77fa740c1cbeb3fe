"""`make pretrain`: train every registered lab's defaults in one process and write them to ``assets/``.

Each lab with ``checkpoints`` in the registry has a module ``models.labs.<key>.pretrain`` whose
``pretrain(assets) -> list[Path]`` writes its files. ``python -m models.core.pretrain rnn vit`` runs only
the named labs; ``--assets DIR`` writes elsewhere (to compare a second run with the shipped files).
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import torch

from models.core.registry import LABS

ASSETS = Path(__file__).resolve().parents[2] / "assets"
THREADS = 2


def main(argv: list[str] | None = None) -> None:
    known = [lab.key for lab in LABS if lab.checkpoints]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labs", nargs="*", help=f"labs to pretrain (default: all of {known})")
    parser.add_argument("--assets", type=Path, default=ASSETS, help="where to write (default: the app's assets/)")
    args = parser.parse_args(argv)
    names, assets = args.labs or known, args.assets
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown labs {unknown}; known: {known}")
    torch.set_num_threads(min(THREADS, torch.get_num_threads()))
    for name in names:
        started = time.perf_counter()
        paths = importlib.import_module(f"models.labs.{name}.pretrain").pretrain(assets)
        written = ", ".join(path.name for path in paths)
        print(f"{name}: wrote {written} in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()

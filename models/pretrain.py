"""`make pretrain`: train every lab's default models and write their checkpoints to ``assets/``.

Each recipe is "module:function"; the function takes the assets folder and returns the paths it
wrote. ``python -m models.pretrain NAME ...`` runs only the named recipes.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"

RECIPES: dict[str, str] = {
    "positional": "models.order_task:pretrain",
    "attention": "models.attention_pretrain:pretrain",
    "gradients": "models.gradient_training:pretrain",
    "rnn": "models.rnn_lab:pretrain",
    "segmentation": "models.segmentation_task:pretrain",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"recipes to run (default: all of {sorted(RECIPES)})")
    names = parser.parse_args(argv).names or list(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipes {unknown}; known: {sorted(RECIPES)}")
    for name in names:
        module_name, function_name = RECIPES[name].split(":")
        started = time.perf_counter()
        paths = getattr(importlib.import_module(module_name), function_name)(ASSETS)
        written = ", ".join(str(path.relative_to(ASSETS.parent)) for path in paths)
        print(f"{name}: wrote {written} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

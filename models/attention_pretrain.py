"""The attention lab's `make pretrain` recipe: the toy-task transformers (with snapshots) and the ViT."""

from __future__ import annotations

from pathlib import Path

from models import attention_tasks, vit


def pretrain(assets: Path) -> list[Path]:
    return attention_tasks.pretrain(assets) + vit.pretrain(assets)

"""The one registry of labs: every lab named once, every slide it claims in the lecture map, `make pretrain`
driven by it (every lab that ships checkpoints, the ViT included)."""

import importlib

import pytest

from models.core import pretrain
from models.core.registry import LABS, LECTURE_OUTLINE, lab, labs_for


def test_keys_are_unique_and_every_claimed_slide_is_in_the_outline():
    assert len({entry.key for entry in LABS}) == len(LABS)
    slides = {slide for section in LECTURE_OUTLINE for slide in section.slides}
    for entry in LABS:
        assert set(entry.lecture) <= slides, entry.key
        assert entry in labs_for(entry.lecture)


def test_every_section_has_a_lab_or_says_what_is_coming():
    for section in LECTURE_OUTLINE:
        assert labs_for(section.slides) or section.coming, section.title


def test_lookup_names_the_known_labs():
    assert lab("vit").title == "Vision Transformer (ViT)"
    with pytest.raises(ValueError, match="the labs are"):
        lab("nope")


@pytest.mark.parametrize("entry", [entry for entry in LABS if entry.checkpoints], ids=lambda e: e.key)
def test_every_lab_with_checkpoints_has_a_pretrain_recipe(entry):
    module = importlib.import_module(f"{entry.package}.pretrain")
    assert callable(module.pretrain)


def test_make_pretrain_runs_the_registered_labs_in_order(monkeypatch, tmp_path):
    ran = []
    for entry in LABS:
        module = importlib.import_module(f"{entry.package}.pretrain")
        monkeypatch.setattr(module, "pretrain", lambda assets, key=entry.key: ran.append(key) or [])
    monkeypatch.setattr(pretrain, "ASSETS", tmp_path)
    pretrain.main([])
    assert ran == [entry.key for entry in LABS if entry.checkpoints] and "vit" in ran
    ran.clear()
    pretrain.main(["vit"])
    assert ran == ["vit"]
    with pytest.raises(SystemExit):
        pretrain.main(["nope"])

"""Every lab's loader, given another lab's shipped checkpoint, refuses it with a CheckpointError that names the file
(never a TypeError or KeyError from rebuilding a model out of foreign settings)."""

import pytest

from models.core.checkpoint import CheckpointError, load_checkpoint
from models.core.pretrain import ASSETS
from models.labs.applications import pretrain as applications
from models.labs.attention import pretrain as attention
from models.labs.gradients import pretrain as gradients
from models.labs.highres import pretrain as highres
from models.labs.positional import pretrain as positional
from models.labs.rnn import pretrain as rnn
from models.labs.segmentation import pretrain as segmentation
from models.labs.vit import pretrain as vit


def _rebuilt_by(module):
    return lambda path: module.model_from_checkpoint(load_checkpoint(path), str(path))


LOADERS = {
    "rnn": _rebuilt_by(rnn),
    "gradients": _rebuilt_by(gradients),
    "applications": lambda path: applications.model_from_checkpoint("video", load_checkpoint(path), str(path)),
    "positional": _rebuilt_by(positional),
    "attention": attention.load_pretrained,
    "vit": vit.load_pretrained,
    "segmentation": _rebuilt_by(segmentation),
    "highres": _rebuilt_by(highres),
}
SHIPPED = {
    "rnn": "rnn_pos_lstm.pt",
    "gradients": "gradients_lstm.pt",
    "applications": "applications_video_convlstm.pt",
    "positional": "positional_offset_copy_learned.pt",
    "attention": "attention_reverse.pt",
    "vit": "vit_digits.pt",
    "segmentation": "segmentation_striped_unet.pt",
    "highres": "highres_glam.pt",
}
PAIRS = [(lab, other) for lab in LOADERS for other in SHIPPED if other != lab]


@pytest.mark.parametrize("lab", LOADERS)
def test_each_loader_reads_its_own_shipped_checkpoint(lab):
    LOADERS[lab](ASSETS / SHIPPED[lab])


@pytest.mark.parametrize(("lab", "other"), PAIRS, ids=[f"{lab}-reads-{other}" for lab, other in PAIRS])
def test_another_labs_checkpoint_is_refused_with_the_files_name(lab, other):
    name = SHIPPED[other]
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        LOADERS[lab](ASSETS / name)

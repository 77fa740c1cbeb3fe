"""The video models: trace and forward agree, the ConvLSTM remembers earlier frames and the per-frame CNN does not,
the IoU and copy-last baseline by hand, clear errors, and (slow) the ConvLSTM beats both baselines in its budget."""

import dataclasses

import pytest
import torch

from models.data.videos import MovingSquares
from models.labs.applications.pretrain import train_model
from models.labs.applications.spec import VideoRun, build_trainer, default_run, evaluate
from models.labs.applications.video import VideoModel, copy_last_iou, frame_iou, video_step


@pytest.mark.parametrize("body", ["convlstm", "cnn"])
def test_trace_output_is_forward_with_the_convlstm_maps(body):
    torch.manual_seed(0)
    model = VideoModel(body, 4).eval()
    videos, _ = MovingSquares(batch_size=2).sample(0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        trace = model.trace(videos)
        torch.testing.assert_close(trace.output, model(videos))
    assert trace.output.next_frame.shape == (2, 12, 1, 16, 16) and trace.output.phase.shape == (2, 12, 3)
    assert dataclasses.is_dataclass(trace) and type(trace).__name__ == "VideoModelTrace"
    if body == "convlstm":
        assert torch.equal(trace.features, trace.recurrent.hidden)
        assert trace.recurrent.cell.shape == (2, 12, 4, 16, 16) and set(trace.recurrent.gates) == {
            "input",
            "forget",
            "cell",
            "output",
        }
    else:
        assert trace.recurrent is None


@pytest.mark.parametrize(("body", "remembers"), [("convlstm", True), ("cnn", False)])
def test_only_the_convlstm_output_at_frame_t_depends_on_earlier_frames(body, remembers):
    torch.manual_seed(0)
    model = VideoModel(body, 4).eval()
    videos, _ = MovingSquares(batch_size=1).sample(0, torch.Generator().manual_seed(1))
    changed = videos.clone()
    changed[:, :5] = changed[:, :5].flip(-1)  # other first five frames, the same last seven
    with torch.no_grad():
        a, b = model(videos), model(changed)
    assert torch.allclose(a.next_frame[:, 5:], b.next_frame[:, 5:]) != remembers
    assert torch.allclose(a.phase[:, 5:], b.phase[:, 5:]) != remembers


def test_iou_and_the_copy_last_baseline_by_hand():
    frame = torch.zeros(4, 4)
    frame[0:2, 0:2] = 1
    moved = torch.zeros(4, 4)
    moved[0:2, 1:3] = 1  # two of four pixels shared, six lit in all
    assert float(frame_iou(frame, moved)) == pytest.approx(2 / 6)
    assert float(frame_iou(torch.zeros(4, 4), torch.zeros(4, 4))) == 1.0
    video = torch.stack([frame, moved, moved])[None, :, None]  # (1, 3, 1, 4, 4)
    assert copy_last_iou([(video, None)]) == pytest.approx((2 / 6 + 1) / 2)


def test_a_training_step_reports_a_finite_loss_the_iou_and_the_phase_accuracy():
    trainer = build_trainer(VideoRun(hidden_channels=4, task=MovingSquares(batch_size=4)), device="cpu")
    chunk = trainer.run_chunk(2)
    assert len(chunk) == 2 and all(torch.isfinite(torch.tensor(m.loss)) for m in chunk)
    assert set(chunk[-1].metrics) == {"iou", "accuracy"}
    assert video_step is trainer.step_fn


@pytest.mark.parametrize(
    "shape",
    [(2, 12, 1, 8, 8), (2, 12, 3, 16, 16), (2, 16, 16), (2, 0, 1, 16, 16)],
    ids=["size", "channels", "3d", "empty"],
)
def test_a_video_of_the_wrong_shape_is_refused_with_a_message(shape):
    for body in ("convlstm", "cnn"):
        with pytest.raises(ValueError, match="video|frames"):
            VideoModel(body, 4)(torch.zeros(shape))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"body": "rnn"}, "body"), ({"kernel_size": 2}, "kernel"), ({"hidden_channels": 0}, "channels")],
)
def test_a_run_that_cannot_work_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoRun(**kwargs)


@pytest.mark.slow
def test_the_convlstm_beats_copying_the_last_frame_and_the_per_frame_cnn_within_its_budget():
    run = default_run("video")
    model, convlstm = train_model(run)
    _, cnn = train_model(VideoRun(body="cnn", train=run.train))
    scores = convlstm["scores"]
    assert scores["iou"] > scores["copy_last_iou"] + 0.05
    assert scores["iou"] > cnn["scores"]["iou"] + 0.05
    assert scores["accuracy"] > cnn["scores"]["accuracy"] + 0.2
    again = evaluate(run, model)
    assert (again["iou"], again["accuracy"]) == pytest.approx((scores["iou"], scores["accuracy"]))


def test_the_page_view_of_a_video_is_each_models_forward_as_arrays():
    from models.labs.applications.video import video_view

    torch.manual_seed(0)
    models = {"convlstm": VideoModel("convlstm", 4).eval(), "cnn": VideoModel("cnn", 4).eval()}
    videos, phases = MovingSquares(batch_size=3).sample(0, torch.Generator().manual_seed(1))
    view = video_view(models, videos, phases, index=2)
    assert view.frames.shape == (12, 16, 16) and (view.phases == phases[2].numpy()).all()
    for name, model in models.items():
        with torch.no_grad():
            output = model(videos[2:3])
        torch.testing.assert_close(torch.from_numpy(view.next_frame[name]), output.next_frame[0, :, 0].sigmoid())
        assert (view.phase[name] == output.phase[0].argmax(-1).numpy()).all()
    assert view.hidden.shape == view.cell.shape == (12, 4, 16, 16)
    assert video_view({"cnn": models["cnn"]}, videos, phases, 0).hidden is None

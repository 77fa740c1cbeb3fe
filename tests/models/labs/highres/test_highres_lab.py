"""The lab's spec, cost and memory counts, nnFormer's stages, FINE's walk, GLAM's maps and the shipped models, each
against references written here: Swin's closed forms, token coordinates, Cicek et al.'s parameter count, the
task's definition and a fresh evaluation of every checkpoint."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from models.core.evaluation import IGNORE_INDEX
from models.core.pretrain import ASSETS
from models.data.long_range import KEY_TOKEN, corners
from models.labs.highres import analysis, pretrain
from models.labs.highres.models import MECHANISMS, HighResConfig, HighResModel
from models.labs.highres.spec import PLATEAU_STEPS, HighResRun, build_comparison, comparison_runs, default_train

MB = 2**20


# --- the run and the comparison ---------------------------------------------------------------------------------


def test_full_attention_is_refused_with_its_estimate_before_any_model_is_built():
    with pytest.raises(ValueError, match=r"1\.00 GiB .*8 x 2 heads x 4,096\^2"):
        HighResRun("full", map_size=64, batch_size=8)
    HighResRun("window", map_size=64, batch_size=8)  # windows at the same size are fine


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_size": 5}, "does not tile"),
        ({"mechanism": "glam", "n_global": 0}, "G = 0 is plain window attention"),
        ({"map_size": 4096}, "too large to train here"),
        ({"mechanism": "nope"}, "mechanism must be one of"),
    ],
)
def test_bad_runs_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HighResRun(**kwargs)


def test_a_comparison_trains_every_mechanism_from_the_same_settings():
    run = HighResRun("window", map_size=8, batch_size=4, train=replace(default_train(), lr=3e-3))
    group = build_comparison(run, ("window", "glam", "full"), "cpu", steps=3)
    group.run_for(60)
    assert group.done and set(group.models) == {"window", "glam", "full"}
    for name, model in group.models.items():
        assert model.config == replace(run.config, mechanism=name)
        assert group.trainers[name].step == 3 and group.trainers[name].config.lr == 3e-3
    with pytest.raises(ValueError, match="at least one"):
        comparison_runs(run, ())
    assert HighResRun.from_settings(run.settings()) == run


def test_by_default_each_mechanism_trains_to_its_plateau_longest_first():
    runs = comparison_runs(HighResRun(), MECHANISMS)
    assert {name: r.train.steps for name, r in runs.items()} == PLATEAU_STEPS
    group = build_comparison(HighResRun(map_size=8), ("window", "glam"), "cpu")
    assert list(group.trainers) == ["glam", "window"] and group.config.steps == PLATEAU_STEPS["glam"]


# --- cost: Swin's formulas, attention memory, refusal -------------------------------------------------------------


@pytest.mark.parametrize(("n", "c", "m"), [(16, 32, 4), (64, 32, 4), (56, 96, 7)])
def test_costs_follow_swins_closed_forms(n, c, m):
    hw = n * n
    full = analysis.attention_cost(analysis.CostSpec("full", n, d_model=c, window_size=m))
    window = analysis.attention_cost(analysis.CostSpec("window", n, d_model=c, window_size=m))
    assert full == 4 * hw * c**2 + 2 * hw**2 * c
    assert window == 4 * hw * c**2 + 2 * m**2 * hw * c
    assert analysis.attention_cost(analysis.CostSpec("shifted", n, d_model=c, window_size=m)) == window
    n_windows, g = hw // m**2, 2
    glam = analysis.attention_cost(analysis.CostSpec("glam", n, d_model=c, window_size=m, n_global=g))
    tokens = g + m * m
    by_hand = n_windows * (4 * tokens * c**2 + 2 * tokens**2 * c) + 4 * n_windows * g * c**2
    assert glam == by_hand + 2 * (n_windows * g) ** 2 * c


def test_attention_bytes_count_every_weight_in_float32():
    n, m, heads, batch = 32, 4, 4, 2
    spec = analysis.CostSpec("full", n, n_heads=heads, window_size=m)
    assert analysis.attention_bytes(spec, batch) == batch * heads * (n * n) ** 2 * 4
    window = replace(spec, mechanism="window")
    assert analysis.attention_bytes(window, batch) == batch * heads * (n * n // m**2) * (m * m) ** 2 * 4
    deformable = replace(spec, mechanism="deformable", n_points=4)
    assert analysis.attention_bytes(deformable, batch) == batch * heads * n * n * 4 * 4


def test_the_cost_table_stops_at_the_first_size_full_attention_does_not_fit():
    budget, heads = 64 * MB, 4
    sizes = [4, 8, 16, 32, 64, 128, 256]
    points = analysis.cost_table(sizes, analysis.CostSpec("full", 8), 1, budget, measure=False)
    first_too_big = next(n for n in sizes if heads * n**4 * 4 > budget)
    assert max(p.map_size for p in points) == first_too_big == 64
    refused = [p for p in points if p.refused]
    assert [(p.mechanism, p.map_size) for p in refused] == [("full", 64)]
    assert "needs 0.25 GiB" in refused[0].refused
    assert all(p.milliseconds is None for p in points)


def test_measured_cost_times_each_block_and_never_attempts_the_refused_one():
    heads = analysis.CostSpec("full", 8).n_heads
    points = analysis.cost_table([8, 16], analysis.CostSpec("full", 8), 1, heads * 16**4 * 4 - 1, repeats=1)
    timed = {(p.mechanism, p.map_size): p.milliseconds for p in points}
    assert timed[("full", 16)] is None and timed[("full", 8)] > 0
    assert all(timed[(m, 16)] > 0 for m in MECHANISMS if m != "full")


def test_cost_specs_refuse_sizes_that_do_not_tile_or_are_huge():
    with pytest.raises(ValueError, match="does not tile"):
        analysis.CostSpec("window", 100, window_size=7)
    with pytest.raises(ValueError, match="between 1 and 4,096"):
        analysis.CostSpec("full", 100_000)
    analysis.CostSpec("full", 100, window_size=7)  # full attention has no windows


# --- the 180 GB U-Net, nnFormer -----------------------------------------------------------------------------------


def test_unet_memory_sums_its_activations_and_matches_cicek_parameter_count():
    memory = analysis.unet_memory((512, 512, 256))
    voxels = 512 * 512 * 256
    level0 = 1 + 32 + 64 + 128 + 192 + 64 + 64 + 2  # input, convs, up-conv, concat, up convs, logits
    level1 = 64 + 64 + 128 + 256 + 384 + 128 + 128
    level2 = 128 + 128 + 256 + 512 + 768 + 256 + 256
    level3 = 256 + 256 + 512
    values = voxels * level0 + voxels // 8 * level1 + voxels // 64 * level2 + voxels // 512 * level3
    assert memory.activation_bytes == 4 * values
    assert 170 < memory.activation_gib < 200  # the lecture's "180 Gb"
    assert analysis.unet_parameters(32, 4, in_channels=3, n_classes=3) == 19_069_955  # Cicek et al. 2016
    halved = analysis.unet_memory((64, 64, 32), bytes_per_value=2, batch=3)
    assert halved.activation_bytes == analysis.unet_memory((64, 64, 32)).activation_bytes // 4 * 2 * 3
    with pytest.raises(ValueError, match="must divide by 8"):
        analysis.unet_memory((500, 512, 256))


def test_nnformer_stages_halve_the_map_and_turn_global_where_the_window_covers_it():
    stages = analysis.nnformer_stages(32, 4, 4, 32)
    assert [s.resolution for s in stages] == [32, 16, 8, 4]
    assert [s.channels for s in stages] == [32, 64, 128, 256]
    assert [s.n_windows for s in stages] == [64, 16, 4, 1] and [s.is_global for s in stages] == [0, 0, 0, 1]
    for s in stages:
        hw, c = s.resolution**2, s.channels
        assert s.global_cost == 4 * hw * c**2 + 2 * hw**2 * c
        assert s.local_cost == 4 * hw * c**2 + 2 * s.window**2 * hw * c
    assert stages[-1].local_cost == stages[-1].global_cost
    with pytest.raises(ValueError, match="must divide by 8"):
        analysis.nnformer_stages(20, 4, 4, 32)
    with pytest.raises(ValueError, match="does not tile"):
        analysis.nnformer_stages(24, 5, 2, 32)


# --- FINE's walk ----------------------------------------------------------------------------------------------------


def cells_of(top: int, left: int, crop: int, cell: int, grid: int) -> set[int]:
    """The memory cells a crop overlaps, from its corner coordinates."""
    rows = range(top // cell, (top + crop - 1) // cell + 1)
    cols = range(left // cell, (left + crop - 1) // cell + 1)
    return {r * grid + c for r in rows for c in cols}


@pytest.mark.parametrize("mix", [True, False])
def test_a_crop_uses_evidence_from_earlier_crops_exactly_when_the_memory_carries_it(mix):
    image, crop, grid = 16, 6, 4
    walk = analysis.fine_walk(image, crop, grid, mix_memory=mix)
    written: set[int] = set()
    for step in walk:
        top, left = step.position
        mine = cells_of(top, left, crop, image // grid, grid)
        assert set(step.cells) == mine
        expected = bool(written) if mix else bool(mine & written)
        assert step.uses_outside((crop, crop)) == expected, step.position
        written |= mine
        assert set(np.flatnonzero(step.visited)) == written
        assert np.count_nonzero(step.read) <= len(mine) and np.all(step.read.flatten()[sorted(mine)] > 0)
    assert not walk[0].uses_outside((crop, crop))


# --- GLAM's maps, the example maps, reach of trained models -------------------------------------------------------


def test_glam_maps_read_the_pickeds_window_and_g_msa_rows_sum_to_one():
    torch.manual_seed(0)
    n, m, g = 8, 4, 2
    model = HighResModel(HighResConfig("glam", n, 2, m, g))
    tokens, _, _ = analysis.example_map(n, 0)
    token = (7, 1)
    maps = analysis.glam_maps(model, tokens, token)
    assert maps.token_to_global.shape == (2, 2, g) and maps.global_attention.shape == (2, 2, 4 * g, 4 * g)
    np.testing.assert_allclose(maps.global_attention.sum(-1), 1, atol=1e-5)
    for block, shift in enumerate((0, m // 2)):
        rolled = [(x - shift) % n for x in token]
        assert maps.windows[block] == (rolled[0] // m) * (n // m) + rolled[1] // m
        rows = {r for r in range(n) if ((r - shift) % n) // m == rolled[0] // m}
        cols = {c for c in range(n) if ((c - shift) % n) // m == rolled[1] // m}
        inside = np.zeros((n, n), dtype=bool)
        inside[np.ix_(sorted(rows), sorted(cols))] = True
        board = maps.global_to_window[block]  # (heads, G, n, n)
        assert (board[:, :, ~inside] == 0).all() and (board[:, :, inside] > 0).all()
        assert (maps.token_to_global[block].sum(-1) < 1).all()
    with pytest.raises(ValueError, match="need a GLAM model"):
        analysis.glam_maps(HighResModel(HighResConfig("full", n)), tokens, token)


@pytest.mark.parametrize(("index", "key"), [(0, 1), (1, 0), (2, 1), (7, 0)])
def test_example_maps_put_the_key_in_the_named_corner_and_label_bit_xor_key(index, key):
    tokens, targets, cell = analysis.example_map(8, index, key)
    assert cell == corners(8, 8)[index % 4]
    assert int(tokens[0][cell]) == KEY_TOKEN + key and int(targets[0][cell]) == IGNORE_INDEX
    scored = targets[0] != IGNORE_INDEX
    assert torch.equal(targets[0][scored], tokens[0][scored] ^ key)
    assert torch.equal(analysis.example_map(8, index, 1 - key)[0][0][scored], tokens[0][scored])  # same bits


def test_key_use_counts_the_keys_each_token_answers_right():
    torch.manual_seed(0)
    model = HighResModel(HighResConfig("window", 8)).eval()
    right = []
    for key in (0, 1):
        tokens, targets, cell = analysis.example_map(8, 3, key)
        with torch.no_grad():
            right.append((model(tokens).argmax(-1)[0] == targets[0]).numpy())
    use = analysis.key_use(model, 3)
    assert np.isnan(use[cell]) and np.isnan(use).sum() == 1
    mask = ~np.isnan(use)
    np.testing.assert_array_equal(use[mask], ((right[0].astype(float) + right[1]) / 2)[mask])


def test_shipped_models_read_the_key_only_where_it_reaches():
    """W-MSA: no token outside the key's M x M window answers both keys right; full attention: every token."""
    window, _ = pretrain.load_pretrained(ASSETS, "window")
    full, _ = pretrain.load_pretrained(ASSETS, "full")
    for index in range(4):
        cell = corners(16, 16)[index]
        in_window = np.zeros((16, 16), dtype=bool)
        in_window[(cell[0] // 4) * 4 : (cell[0] // 4) * 4 + 4, (cell[1] // 4) * 4 : (cell[1] // 4) * 4 + 4] = True
        use = analysis.key_use(window, index)
        assert (use[~in_window] <= 0.5).all()
        assert np.nanmean(analysis.key_use(full, index)) == 1.0


def test_key_reach_is_the_window_for_w_msa_and_the_sampled_row_for_fresh_deformable_attention():
    n, m, k = 16, 4, 4
    window = HighResModel(HighResConfig("window", n, 2, m))
    assert analysis.key_reach(window) == pytest.approx((m * m - 1) / (n * n - 1))
    torch.manual_seed(0)
    deformable = HighResModel(HighResConfig("deformable", n, 1, n_points=k))
    assert analysis.key_reach(deformable) == pytest.approx(k / (n * n - 1))  # a corner samples K tokens inward


# --- the shipped models ---------------------------------------------------------------------------------------------


def test_recipes_cover_every_mechanism_the_deeper_shifted_run_and_the_g_slider():
    assert set(MECHANISMS) <= set(pretrain.RECIPES)
    assert pretrain.RECIPES[pretrain.DEEP_SHIFTED].depth == 4
    assert {pretrain.RECIPES[name].n_global for name in pretrain.GLAM_RECIPES.values()} == set(pretrain.GLAM_RECIPES)


@pytest.mark.parametrize("name", list(pretrain.RECIPES))
def test_shipped_models_score_what_they_claim_and_what_the_lecture_predicts(name):
    model, meta = pretrain.load_pretrained(ASSETS, name)
    run = pretrain.RECIPES[name]
    assert model.config == run.config
    accuracy = analysis.evaluate(model, run.task)
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-6)
    if run.mechanism != "deformable":
        bound = analysis.accuracy_bound(run.mechanism, run.map_size, run.depth, run.window_size, run.n_global)
        assert accuracy <= bound + 0.02  # no model beats its reach
        assert accuracy >= bound - 0.06  # and each gets close to it: W-MSA at chance, GLAM and full solve it
    assert meta["seconds"] < 60


def test_pretrain_writes_checkpoints_that_load_back(monkeypatch, tmp_path):
    tiny = HighResRun("shifted", map_size=8, batch_size=4, train=replace(default_train(), steps=2))
    monkeypatch.setattr(pretrain, "RECIPES", {"tiny": tiny})
    (path,) = pretrain.pretrain(tmp_path)
    assert path.name == "highres_tiny.pt"
    model, meta = pretrain.load_pretrained(tmp_path, "tiny")
    assert model.config == tiny.config and meta["steps"] == 2 and len(meta["curve"]["step"]) == 2

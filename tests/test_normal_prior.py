"""Text-to-3D's normal prior: its SDS reads the renders' normal maps as the prior's training images show
normals, reaches the geometry, is only loaded when weighted; the shipped one sees the mug's hollow."""

import importlib.util
from pathlib import Path

import pytest
import torch

from threestudio_lite.config import PriorConfig, load_config
from threestudio_lite.data.cameras import CameraConfig
from threestudio_lite.errors import UserError
from threestudio_lite.priors.loading import has_shipped_prior, load_prior
from threestudio_lite.systems.text_to_3d import TextTo3D, normal_maps

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_normal_maps_match_the_world_renders_normal_colours():
    opacity = torch.tensor([0.0, 1.0, 0.5]).view(1, 1, 3, 1)
    normal = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.0]]).view(1, 1, 3, 3)  # opacity-weighted
    maps = normal_maps({"normal": normal, "opacity": opacity})[0, :, 0].T
    assert torch.allclose(maps[0], torch.ones(3))  # empty: the white background
    assert torch.allclose(maps[1], torch.tensor([0.5, 0.5, 1.0]))  # +z, covered
    assert torch.allclose(maps[2], 0.5 * torch.tensor([1.0, 0.5, 0.5]) + 0.5)  # +x at half opacity over white


def _config(extra):
    return load_config("dreamfusion", [
        "stages.0.steps=4", "stages.0.geometry.resolutions=[8, 12]", "stages.0.renderer.num_samples=16",
        "stages.0.renderer.occupancy_resolution=8", "stages.0.resolution=16", "stages.0.batch_size=2",
        "prompt=a red cube", *extra,
    ])


@pytest.fixture(scope="module")
def tiny_normal_prior(tmp_path_factory):
    from threestudio_lite.priors.mini.text_recipe import TextRecipe
    from threestudio_lite.priors.mini.train import TrainPriorConfig

    config = TrainPriorConfig(channels=(16, 32, 32), text_width=32, shading="normal")
    recipe = TextRecipe(config)
    folder = tmp_path_factory.mktemp("normal-prior")
    recipe.save(recipe.modules, folder)
    return folder


def test_normal_sds_is_loaded_only_when_weighted_and_its_gradient_reaches_the_geometry(tiny_normal_prior):
    unweighted = TextTo3D.create(_config([f"normal_prior.path={tiny_normal_prior}", "stages.0.loss.sds_normal=0"]),
                                 torch.device("cpu"))
    assert unweighted.normal_prior is None
    config = _config([f"normal_prior.path={tiny_normal_prior}", "stages.0.loss.sds_normal=2.0", "stages.0.loss.sds=0",
                      "stages.0.loss.sparsity=0", "stages.0.loss.orientation=0", "stages.0.loss.opacity_entropy=0"])
    system = TextTo3D.create(config, torch.device("cpu"))
    assert system.normal_prior is not None and system.normal_prior is not system.prior
    stage = config.stages[0]
    scene = system.build_scene(0, None)
    total, logs = system.loss(scene, stage, 0, 0.5, torch.Generator().manual_seed(0))
    assert logs["sds_normal"] > 0
    assert torch.isclose(total, torch.tensor(2.0 * logs["sds_normal"]), rtol=1e-5)  # the only weighted term
    total.backward()
    grads = [p.grad for p in scene.geometry.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0


def test_normal_sds_on_the_first_views_only_costs_a_smaller_batch(tiny_normal_prior, monkeypatch):
    """``normal_views`` N: only the step's first N views' normal maps reach the normal prior (its UNet's batch)."""
    config = _config([f"normal_prior.path={tiny_normal_prior}", "stages.0.batch_size=3", "stages.0.normal_views=1"])
    system = TextTo3D.create(config, torch.device("cpu"))
    batches = []
    predict = system.normal_prior.predict_noise
    monkeypatch.setattr(system.normal_prior, "predict_noise", lambda x_t, *a: batches.append(len(x_t)) or predict(x_t, *a))
    _, logs = system.loss(system.build_scene(0, None), config.stages[0], 0, 0.5, torch.Generator().manual_seed(0))
    assert batches == [1] and logs["sds_normal"] > 0
    with pytest.raises(UserError, match="normal_views"):
        TextTo3D.create(_config([f"normal_prior.path={tiny_normal_prior}", "stages.0.normal_views=-1"]),
                        torch.device("cpu"))


def test_the_shipped_normal_prior_pulls_a_filled_mugs_lid_into_the_hollow():
    """The README's measure (benchmarks/mug_hollow_signal.py): one-step x0 of a filled mug's normal map at t = 600,
    projected on (hollow - filled) where they differ. The text prior's lit renders move 0.33 of the way; the normal
    prior more than all the way."""
    assert has_shipped_prior("normal")
    spec = importlib.util.spec_from_file_location("mug_hollow_signal", BENCHMARKS / "mug_hollow_signal.py")
    signal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signal)
    prior = load_prior(PriorConfig(shipped="normal"), "", CameraConfig(), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    hollow, filled, cams = signal.mug_renders(30.0, generator, "normal")
    pull = signal.pull(prior, hollow, filled, prior.condition(signal.CAPTION, cams), 600, generator)
    assert pull > 1.0, pull

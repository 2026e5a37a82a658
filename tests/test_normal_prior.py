"""Text-to-3D's normal prior: its SDS reads the renders' normal maps as the prior's training images show
normals, reaches the geometry, is only loaded when weighted; the shipped one sees the mug's hollow."""

from dataclasses import replace

import pytest
import torch

from threestudio_lite.config import PriorConfig, load_config
from threestudio_lite.data.cameras import CameraConfig, make_cameras
from threestudio_lite.priors.base import noised, one_step_x0
from threestudio_lite.priors.loading import has_shipped_prior, load_prior
from threestudio_lite.systems.text_to_3d import TextTo3D, normal_maps
from threestudio_lite.world.objects import Part, composite_object
from threestudio_lite.world.render import composite, render
from threestudio_lite.world.sdf import Cylinder


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


def test_the_shipped_normal_prior_pulls_a_filled_mugs_lid_into_the_hollow():
    """One-step x0 of a filled mug's normal map at t = 600, projected on (hollow - filled) where they differ:
    the text prior's lit renders move 0.33 of the way (README); the normal prior more than all the way."""
    assert has_shipped_prior("normal")
    prior = load_prior(PriorConfig(shipped="normal"), "", CameraConfig(), torch.device("cpu"))
    mug = composite_object("mug")
    filled = replace(mug, parts=(Part("cup", Cylinder(0.46, 0.5), "white"), *mug.parts[1:]))  # the outer cylinder
    cams = make_cameras(torch.full((4,), 30.0), torch.tensor([0.0, 90.0, 180.0, 270.0]), 2.4, 42.5, 32, 32)
    hollow_map, filled_map = (composite(render(o, cams, "normal"), (1.0, 1.0, 1.0)).permute(0, 3, 1, 2)
                              for o in (mug, filled))
    x0, toward = prior.encode(filled_map), prior.encode(hollow_map) - prior.encode(filled_map)
    where = (toward.abs().amax(1, keepdim=True) > 0.2).float()
    a = prior.alphas_cumprod[600]
    generator = torch.Generator().manual_seed(0)
    x_t = noised(a, x0, torch.randn(x0.shape, generator=generator))
    with torch.no_grad():
        eps = prior.predict_noise(x_t, torch.full((4,), 600), prior.condition("a mug with a red handle", cams), 3.0)
    pull = float(((one_step_x0(a, x_t, eps) - x0) * toward * where).sum() / (toward * toward * where).sum())
    assert pull > 1.0, pull

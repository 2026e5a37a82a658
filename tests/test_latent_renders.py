"""Distilling directly in Stable Diffusion's latent space (Latent-NeRF), on a tiny random-weight SD."""

import imageio.v3 as iio
import pytest
import torch
import torch.nn.functional as F
import trimesh

from threestudio_lite.config import load_config
from threestudio_lite.config_io import ConfigError
from threestudio_lite.errors import UserError
from threestudio_lite.priors.diffusers_text import DiffusersTextPrior
from threestudio_lite.priors.sds import SDSConfig, sample_timesteps, sds_loss, timestep_weight
from threestudio_lite.systems.text_to_3d import TextTo3D

TWO_STAGE_TINY = [
    f"stages.{i}.{key}" for i in (0, 1) for key in (
        "resolution=12", "batch_size=2", "renderer.num_samples=24", "renderer.occupancy_resolution=16",
        "geometry.resolutions=[8, 12, 16]", "geometry.active_levels=3")
] + ["trainer.val_every=2", "trainer.val_views=2", "trainer.val_resolution=16", "export.mc_resolution=32",
     "export.turntable_frames=2", "export.turntable_resolution=16", "export.formats=[glb]"]


def test_latent_sds_skips_the_vae_and_resizes_renders_to_the_unet(tiny_sd_dir):
    prior = DiffusersTextPrior(str(tiny_sd_dir), torch.device("cpu"))
    assert prior.latent_channels == 4 and prior.unet.config.sample_size == 8
    from threestudio_lite.data.cameras import make_cameras

    cond = prior.condition("a red cube", make_cameras([0.0, 20.0], [0.0, 90.0], 2.8, 42.5, 12, 12))
    renders = torch.randn(2, 4, 12, 12, generator=torch.Generator().manual_seed(0)).requires_grad_()
    config = SDSConfig(guidance_scale=7.5)
    loss, _ = sds_loss(prior, renders, cond, config, 0.0, torch.Generator().manual_seed(4), latents=True)
    loss.backward()

    g = torch.Generator().manual_seed(4)
    x = renders.detach().clone().requires_grad_()
    latents = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
    t = sample_timesteps(prior, 2, config.t_min, config.t_max, g)
    noise = torch.randn(latents.shape, generator=g)
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        eps = prior.predict_noise(a.sqrt() * latents + (1 - a).sqrt() * noise, t, cond, 7.5)
        grad = timestep_weight(a, "sds") * (eps - noise)
    (expected,) = torch.autograd.grad((latents * grad).sum() / 2, x)
    assert expected.abs().max() > 1e-4
    torch.testing.assert_close(renders.grad, expected, rtol=1e-4, atol=1e-6)


def test_latent_stage_then_rgb_stage_keeps_the_geometry_and_restarts_the_colour(tiny_sd_dir):
    config = load_config("latent-nerf-sd", [f"prior.path={tiny_sd_dir}", *TWO_STAGE_TINY])
    config.prompt = "a red cube"
    system = TextTo3D.create(config, torch.device("cpu"))
    latent = system.build_scene(0, None)
    white = system.prior.encode(torch.ones(1, 3, 16, 16)).mean((0, 2, 3))
    torch.testing.assert_close(latent.background.color, white)
    assert white.abs().max() > 1e-3  # not the zeros the scene was built with
    optimizer = torch.optim.Adam(latent.parameters(), lr=0.05)
    for step in range(3):
        loss, logs = system.loss(latent, config.stages[0], step, step / 3, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        assert latent.geometry.albedo_head[-1].weight.grad.abs().sum() > 0
        optimizer.step()
    out = latent.render(system.cameras.sample(1, 12, 12, torch.Generator().manual_seed(0)), ["albedo"], 1.0)
    assert out["rgb"].shape[-1] == 4 and out["rgb"].min() < 0  # unbounded latents, not sigmoid colours
    assert system.preview(out["rgb"]).shape == (1, 12, 12, 3)

    rgb = system.build_scene(1, latent)
    for name, value in latent.geometry.grid.state_dict().items():
        torch.testing.assert_close(rgb.geometry.grid.state_dict()[name], value)
    assert rgb.geometry.albedo_head[-1].out_features == 3 and rgb.background.color.shape == (3,)
    out = rgb.render(system.cameras.sample(1, 12, 12, torch.Generator().manual_seed(0)), ["albedo"], 1.0)
    assert out["rgb"].min() >= 0 and out["rgb"].max() <= 1


def test_latent_nerf_preset_runs_end_to_end_with_decoded_validation_and_an_rgb_export(tiny_sd_dir, tmp_path):
    from test_runs import cli

    cli("text-to-3d", "a red cube", "--config", "latent-nerf-sd", "--out", tmp_path / "run", "--steps", 4,
        "--no-progress", f"prior.path={tiny_sd_dir}", *TWO_STAGE_TINY)
    val = sorted((tmp_path / "run" / "val").glob("stage0-latent-*.png"))
    assert val and iio.imread(val[-1]).shape[-1] == 3
    mesh = trimesh.load(tmp_path / "run" / "export" / "model.glb", force="mesh")
    assert len(mesh.vertices) > 0


def test_latent_renders_need_a_latent_prior_and_a_final_rgb_stage():
    config = load_config("latent-nerf-sd", ["prior.kind=auto", "prior.path="])  # the embedded pixel-space prior
    config.prompt = "a red cube"
    with pytest.raises(UserError, match="latent space"):
        TextTo3D.create(config, torch.device("cpu"))
    with pytest.raises(ConfigError, match="last stage must render colour"):
        load_config("dreamfusion", ["stages.0.latent_renders=true"])

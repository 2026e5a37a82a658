"""Real-prior backends on tiny random-weight models in the checkpoints' layouts: Stable Diffusion (latent
space through the VAE) and DeepFloyd IF stage I (pixel space, T5, learned variance)."""

import math

import pytest
import torch
from diffusers import UNet2DConditionModel

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.priors.base import guided
from threestudio_lite.priors.diffusers_text import DiffusersTextPrior
from threestudio_lite.priors.sds import SDSConfig, sample_timesteps, sds_loss, timestep_weight
from threestudio_lite.systems.text_to_3d import TextTo3D


def test_stable_diffusion_sds_gradient_goes_through_the_vae_as_computed_by_hand(tiny_sd_dir):
    prior = DiffusersTextPrior(str(tiny_sd_dir), torch.device("cpu"))
    assert prior.vae is not None and prior.image_size == 16 and "latent-space" in prior.description
    cams = make_cameras([0.0, 30.0], [0.0, 120.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)).requires_grad_()
    config = SDSConfig(guidance_scale=7.5, t_min=0.02, t_max=0.98)
    loss, _ = sds_loss(prior, images, cond, config, 0.0, torch.Generator().manual_seed(3))
    loss.backward()

    # By hand: latents = scaling · mean(VAE posterior of 2x - 1); g = w(t)(ε̂ - ε) on the latents; the image
    # gradient is g pulled back through the encoder, averaged over the batch.
    g = torch.Generator().manual_seed(3)
    x = images.detach().clone().requires_grad_()
    latents = prior.vae.encode(x * 2 - 1).latent_dist.mean * prior.vae.config.scaling_factor
    assert latents.shape == (2, 4, 8, 8)
    t = sample_timesteps(prior, 2, config.t_min, config.t_max, g)
    noise = torch.randn(latents.shape, generator=g)
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        x_t = a.sqrt() * latents + (1 - a).sqrt() * noise
        unet_in = torch.cat([x_t, x_t])
        pred = prior.unet(unet_in, torch.cat([t, t]), encoder_hidden_states=torch.cat([cond.uncond, cond.cond])).sample
        grad = timestep_weight(a, "sds") * (guided(pred[:2], pred[2:], 7.5) - noise)
    (expected,) = torch.autograd.grad((latents * grad).sum() / 2, x)
    assert expected.abs().max() > 1e-4
    torch.testing.assert_close(images.grad, expected, rtol=1e-4, atol=1e-6)


def test_deepfloyd_if_uses_t5_states_and_drops_the_predicted_variance(tiny_if_dir):
    prior = DiffusersTextPrior(str(tiny_if_dir), torch.device("cpu"))
    assert prior.vae is None and type(prior.text_encoder).__name__ == "T5EncoderModel"
    cams = make_cameras([0.0, 30.0], [0.0, 120.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    assert cond.cond.shape[-1] == prior.text_encoder.config.d_model
    x_t = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([50, 700])
    with torch.no_grad():
        eps = prior.predict_noise(x_t, t, cond, 4.0)
        unet = UNet2DConditionModel.from_pretrained(tiny_if_dir, subfolder="unet")
        pred = unet(torch.cat([x_t, x_t]), torch.cat([t, t]), encoder_hidden_states=torch.cat([cond.uncond, cond.cond])).sample
    assert pred.shape[1] == 6
    torch.testing.assert_close(eps, guided(pred[:2, :3], pred[2:, :3], 4.0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fixture, extra", [("tiny_sd_dir", []), ("tiny_if_dir", []),
                                           ("tiny_sd_dir", ["prior.perp_neg=true"])])
def test_text_to_3d_step_on_each_backend_reaches_the_3d_parameters(fixture, extra, request):
    folder = request.getfixturevalue(fixture)
    config = load_config("dreamfusion", ["prior.kind=diffusers", f"prior.path={folder}", "stages.0.resolution=16",
                                         "stages.0.batch_size=2", "stages.0.geometry.resolutions=[8, 12, 16]", *extra])
    config.prompt = "a red cube"
    system = TextTo3D.create(config, torch.device("cpu"))
    scene = system.build_scene(0, None)
    for step in range(2):
        loss, logs = system.loss(scene, config.stages[0], step, 0.1, torch.Generator().manual_seed(step))
        scene.zero_grad()
        loss.backward()
        grid_grad = sum(p.grad.abs().sum() for p in scene.geometry.grid.parameters() if p.grad is not None)
        mlp_grad = sum(p.grad.abs().sum() for p in scene.geometry.albedo_head.parameters())
        assert torch.isfinite(loss) and logs["sds"] > 0
        assert grid_grad > 0 and mlp_grad > 0


@pytest.mark.parametrize("command, preset", [("text-to-3d", "dreamfusion-sd"), ("text-to-3d", "dreamfusion-if"),
                                             ("image-to-3d", "zero123-xl"), ("image-to-3d", "stable-zero123")])
def test_gpu_presets_without_weights_or_hub_fail_in_one_line_naming_the_model(command, preset, tmp_path):
    import os

    import imageio.v3 as iio
    import numpy as np
    from test_runs import cli

    picture = np.zeros((16, 16, 4), np.uint8)
    picture[4:12, 4:12] = 255
    iio.imwrite(tmp_path / "in.png", picture)
    given = "a red cube" if command == "text-to-3d" else tmp_path / "in.png"
    proc = cli(command, given, "--config", preset, "--out", tmp_path / "run", check=False,
               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "no model hub is reachable" in lines[0] and "prior.path=DIR" in lines[0]
    assert load_config(preset).prior.path in lines[0]
    assert not (tmp_path / "run").exists()


def test_zero123_conditions_on_reference_latents_and_projected_clip_and_camera(tiny_zero123_dir):
    from threestudio_lite.priors.mini.view_prior import Reference
    from threestudio_lite.priors.zero123 import Zero123Prior, relative_pose

    prior = Zero123Prior(str(tiny_zero123_dir), torch.device("cpu"))
    assert prior.image_size == 16
    reference = Reference(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0)), 0.0, 30.0, 2.4, 42.5)
    cams = make_cameras([30.0, 0.0], [30.0, 120.0], [2.4, 3.0], 42.5, 16, 16)
    pose = relative_pose(reference, cams)
    # 30° higher is 30° less polar angle; 90° round is sin 1, cos 0; 0.6 farther.
    torch.testing.assert_close(pose[0], torch.tensor([-math.pi / 6, 0.0, 1.0, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(pose[1], torch.tensor([0.0, math.sin(math.radians(90)), math.cos(math.radians(90)), 0.6]),
                               atol=1e-6, rtol=0)
    cond = prior.condition(reference, cams)
    assert cond.embedding.shape == (2, 1, 16) and cond.latents.shape == (2, 4, 8, 8)
    assert not torch.allclose(cond.embedding[0], cond.embedding[1])  # the camera reaches the embedding
    x_t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([100, 800])
    with torch.no_grad():
        eps = prior.predict_noise(x_t, t, cond, 3.0)
        cond_branch = prior.unet(torch.cat([x_t, cond.latents], 1), t, encoder_hidden_states=cond.embedding).sample
        uncond = prior.unet(torch.cat([x_t, torch.zeros_like(cond.latents)], 1), t,
                            encoder_hidden_states=torch.zeros_like(cond.embedding)).sample
    torch.testing.assert_close(eps, guided(uncond, cond_branch, 3.0), rtol=1e-4, atol=1e-5)  # batched vs not


def test_stable_zero123_gives_the_reference_polar_angle_in_place_of_the_distance(tiny_zero123_dir):
    from threestudio_lite.priors.loading import load_view_prior
    from threestudio_lite.priors.mini.view_prior import Reference
    from threestudio_lite.priors.zero123 import relative_pose

    reference = Reference(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)), 30.0, 10.0, 3.8, 20.0)
    cams = make_cameras([30.0, -10.0], [10.0, 100.0], [3.8, 3.0], 20.0, 16, 16)
    stable = relative_pose(reference, cams, "stable-zero123")
    plain = relative_pose(reference, cams, "zero123")
    torch.testing.assert_close(stable[:, :3], plain[:, :3])
    torch.testing.assert_close(stable[:, 3], torch.full((2,), math.radians(60.0)))
    torch.testing.assert_close(plain[:, 3], torch.tensor([0.0, -0.8]))
    config = load_config("stable-zero123", [f"prior.path={tiny_zero123_dir}"])
    prior = load_view_prior(config.prior, torch.device("cpu"))
    assert prior.pose_convention == "stable-zero123"
    embedding = prior.condition(reference, cams).embedding
    prior.pose_convention = "zero123"
    assert not torch.allclose(embedding, prior.condition(reference, cams).embedding)


def zero123_config(tiny_zero123_dir, tmp_path, *extra):
    import imageio.v3 as iio
    import numpy as np

    picture = np.zeros((32, 32, 4), np.uint8)
    picture[8:24, 10:22] = (200, 40, 30, 255)
    iio.imwrite(tmp_path / "in.png", picture)
    return load_config("zero123", ["prior.kind=diffusers", f"prior.path={tiny_zero123_dir}", f"image.path={tmp_path / 'in.png'}",
                                   "stages.0.resolution=16", "stages.0.reference_resolution=16", "stages.0.batch_size=2",
                                   "stages.0.geometry.resolutions=[8, 12, 16]", *extra])


@pytest.mark.parametrize("with_text_prior", [False, True])
def test_image_to_3d_step_on_zero123_reaches_the_3d_parameters(tiny_zero123_dir, tiny_sd_dir, tmp_path, with_text_prior):
    """Zero-1-to-3 alone, and Magic123's pairing with a Stable Diffusion text prior given a caption (a prior that is
    not camera-conditioned is used as is: no alignment search)."""
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    extra = ["text_prior.kind=diffusers", f"text_prior.path={tiny_sd_dir}", "prompt=a red cube"] if with_text_prior \
        else ["prompt="]
    config = zero123_config(tiny_zero123_dir, tmp_path, *extra)
    system = ImageTo3D.create(config, torch.device("cpu"))
    assert "Zero-1-to-3" in system.prior.description
    assert (system.text_prior is not None) == with_text_prior
    if with_text_prior:
        assert system.alignment.caption == "a red cube" and system.alignment.scale == 1.0
    scene = system.build_scene(0, None)
    loss, logs = system.loss(scene, config.stages[0], 0, 0.1, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and logs["sds"] > 0
    assert ("sds_text" in logs and logs["sds_text"] > 0) == with_text_prior
    assert sum(p.grad.abs().sum() for p in scene.geometry.grid.parameters() if p.grad is not None) > 0


def test_recognising_the_object_needs_the_embedded_text_prior(tiny_zero123_dir, tiny_sd_dir, tmp_path):
    from threestudio_lite.errors import UserError
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    config = zero123_config(tiny_zero123_dir, tmp_path, "text_prior.kind=diffusers", f"text_prior.path={tiny_sd_dir}",
                            "prompt=auto")
    with pytest.raises(UserError, match="give the caption"):
        ImageTo3D.create(config, torch.device("cpu"))


def test_attention_slicing_gives_the_same_noise_prediction(tiny_sd_dir):
    from threestudio_lite.config import PriorConfig
    from threestudio_lite.priors.loading import load_prior

    cams = make_cameras([0.0, 30.0], [0.0, 120.0], 2.8, 42.5, 16, 16)
    x_t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([100, 600])
    eps = {}
    for slicing in (False, True):
        prior = load_prior(PriorConfig(kind="diffusers", path=str(tiny_sd_dir), attention_slicing=slicing), "a red cube",
                           None, torch.device("cpu"))
        assert any("Sliced" in type(p).__name__ for p in prior.unet.attn_processors.values()) == slicing
        with torch.no_grad():
            eps[slicing] = prior.predict_noise(x_t, t, prior.condition("a red cube", cams), 7.5)
    torch.testing.assert_close(eps[True], eps[False], rtol=1e-4, atol=1e-5)

"""SDS arithmetic: the gradient reaching the image is w(t)(ε̂ − ε), and SDS against a known score converges."""

import torch

from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.priors.diffusers_text import DiffusersTextPrior
from threestudio_lite.priors.exact_denoiser import ExactDenoiserPrior
from threestudio_lite.priors.sds import (
    SDSConfig,
    sample_timesteps,
    sds_loss,
    timestep_weight,
)


def _hand_gradient(prior, images, cond, config, seed):
    """Replays sds_loss's random draws and computes w(t)(ε̂ − ε) by hand, as a gradient on the [0,1] image."""
    g = torch.Generator().manual_seed(seed)
    x0 = images.detach() * 2 - 1
    t = sample_timesteps(prior, images.shape[0], config.t_min, config.t_max, g)
    noise = torch.randn(x0.shape, generator=g)
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    with torch.no_grad():
        eps = prior.predict_noise(x_t, t, cond, config.guidance_scale)
    w = timestep_weight(a, config.weighting)
    # d(2x - 1)/dx = 2 and the loss averages over the batch.
    return 2.0 * w * (eps - noise) / images.shape[0]


def test_sds_gradient_matches_hand_computation_on_saved_diffusers_unet(tiny_text_prior_dir):
    prior = DiffusersTextPrior(str(tiny_text_prior_dir), torch.device("cpu"))
    assert prior.image_size == 16
    cams = make_cameras([0.0, 20.0, 80.0], [0.0, 100.0, 180.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)).requires_grad_()
    config = SDSConfig(guidance_scale=7.5, t_min=0.02, t_max=0.98, weighting="sds")
    loss, _ = sds_loss(prior, images, cond, config, 0.0, torch.Generator().manual_seed(5))
    loss.backward()
    expected = _hand_gradient(prior, images, cond, config, 5)
    assert expected.abs().max() > 1e-3  # the gradient is not trivially zero
    torch.testing.assert_close(images.grad, expected, rtol=1e-4, atol=1e-6)


def test_view_dependent_prompts_pick_front_side_back_overhead(tiny_text_prior_dir):
    prior = DiffusersTextPrior(str(tiny_text_prior_dir), torch.device("cpu"))
    cams = make_cameras([0.0, 0.0, 0.0, 75.0], [10.0, 90.0, -170.0, 0.0], 2.8, 42.5, 16, 16)
    assert prior.view_prompts("a cube", cams) == [
        "a cube, front view", "a cube, side view", "a cube, back view", "a cube, overhead view"]
    cond = prior.condition("a cube", cams, "blurry")
    # Distinct prompts give distinct embeddings; the negative prompt is the same for all views.
    assert not torch.allclose(cond.cond[0], cond.cond[1])
    torch.testing.assert_close(cond.uncond[0], cond.uncond[3])


def test_v_prediction_is_converted_to_epsilon(tmp_path):
    from tiny_priors import make_tiny_text_prior

    folder = make_tiny_text_prior(tmp_path / "v", prediction_type="v_prediction")
    prior = DiffusersTextPrior(str(folder), torch.device("cpu"))
    cams = make_cameras([0.0], [0.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a cube", cams)
    x_t = torch.randn(1, 3, 16, 16)
    t = torch.tensor([500])
    eps = prior.predict_noise(x_t, t, cond, 1.0)
    v = prior.unet(x_t, t, encoder_hidden_states=cond.cond).sample
    a = prior.alphas_cumprod[500]
    torch.testing.assert_close(eps, a.sqrt() * v + (1 - a).sqrt() * x_t)


def _image_set(k=4, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(k, 3, size, size, generator=g)


def test_exact_denoiser_recovers_clean_image_at_low_noise():
    images = _image_set()
    prior = ExactDenoiserPrior(images, ["x"] * 4, view_dependent=False)
    masks = prior.embed_texts(["x"])
    x0 = images[2:3] * 2 - 1
    t = torch.tensor([5])
    a = prior.alphas_cumprod[t]
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0) * 0.1
    torch.testing.assert_close(prior.denoise(x_t, t, masks).view_as(x0), x0, atol=1e-4, rtol=0)


def test_sds_on_free_image_converges_to_an_image_of_the_set():
    images = _image_set()
    captions = ["a", "a", "b", "b"]
    prior = ExactDenoiserPrior(images, captions, view_dependent=False)
    cams = make_cameras([0.0], [0.0], 2.8, 42.5, 8, 8)
    cond = prior.condition("b", cams)
    param = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    opt = torch.optim.Adam([param], lr=0.02)
    g = torch.Generator().manual_seed(0)
    steps = 400
    start = (param.detach() - images[2:]).flatten(1).norm(dim=1).min()
    for step in range(steps):
        config = SDSConfig(guidance_scale=3.0, t_min=0.02, t_max=0.98 - 0.9 * step / steps, weighting="sds")
        loss, _ = sds_loss(prior, param, cond, config, 0.0, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            param.clamp_(0, 1)
    dists = (param.detach() - images).flatten(1).norm(dim=1) / (3 * 64) ** 0.5  # RMSE per image
    nearest = int(dists.argmin())
    assert nearest in (2, 3), "converged to an image of the wrong caption"
    assert dists[nearest] < 0.03, f"RMSE to nearest image {dists[nearest]:.3f} (start {start / (3 * 64) ** 0.5:.3f})"


def test_stepped_guidance_schedule_runs_one_branch_then_two(tiny_text_prior_dir, monkeypatch):
    """The default preset's text guidance [[0, 1], [0.5, 1], [0.5, 3]]: unguided (one UNet batch of B) over the first
    half, classifier-free guided (a batch of 2B) after; the gradient follows each half's scale."""
    prior = DiffusersTextPrior(str(tiny_text_prior_dir), torch.device("cpu"))
    batches = []
    unguided = prior.unguided_eps
    monkeypatch.setattr(prior, "unguided_eps", lambda x, t, e: batches.append(x.shape[0]) or unguided(x, t, e))
    cams = make_cameras([0.0, 20.0], [0.0, 100.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    config = SDSConfig(guidance_scale=[[0.0, 1.0], [0.5, 1.0], [0.5, 3.0]], t_min=0.02, t_max=0.98, weighting="sds")
    for progress, scale, batch in ((0.25, 1.0, 2), (0.75, 3.0, 4)):
        images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)).requires_grad_()
        calls = len(batches)
        loss, _ = sds_loss(prior, images, cond, config, progress, torch.Generator().manual_seed(5))
        loss.backward()
        assert batches[calls:] == [batch]  # one UNet call per SDS step
        fixed = SDSConfig(guidance_scale=scale, t_min=0.02, t_max=0.98, weighting="sds")
        torch.testing.assert_close(images.grad, _hand_gradient(prior, images, cond, fixed, 5), rtol=1e-4, atol=1e-6)

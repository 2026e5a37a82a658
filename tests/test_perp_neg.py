"""Perp-Neg guidance and encoder CPU offload of the text priors."""

import math

import pytest
import torch

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.priors.base import guided
from threestudio_lite.priors.diffusers_text import DiffusersTextPrior
from threestudio_lite.priors.loading import PriorUnavailable, load_prior
from threestudio_lite.priors.perp_neg import perp_neg_guided, view_mix
from threestudio_lite.systems.text_to_3d import TextTo3D


def test_view_mix_interpolates_views_and_weights_negatives_as_threestudio():
    mix, negs = view_mix(0.0, 0.0, 60.0)
    assert mix == [("front", 1.0), ("side", 0.0)]
    # Straight ahead: the front negative vanishes (4·e^-0.5 - 2.426 ≈ 0), the side one weighs -(4 - 2.426).
    assert [v for v, _ in negs] == ["front", "side"]
    assert negs[0][1] == pytest.approx(-(4 * math.exp(-0.5) - 2.426)) and abs(negs[0][1]) < 1e-3
    assert negs[1][1] == pytest.approx(-1.574)
    mix, _ = view_mix(10.0, -45.0, 60.0)
    assert mix == [("front", 0.5), ("side", 0.5)]
    mix, negs = view_mix(0.0, 180.0, 60.0)
    assert mix == [("side", 0.0), ("back", 1.0)]
    assert [(v, round(w, 3)) for v, w in negs] == [("side", -0.394), ("front", -1.967)]
    mix, negs = view_mix(0.0, 270.0, 60.0)  # = -90: the side view, on the side-back branch
    assert mix == [("side", 1.0), ("back", 0.0)]
    mix, negs = view_mix(75.0, 30.0, 60.0)
    assert mix == [("overhead", 1.0)] and all(w == 0.0 for _, w in negs)


def test_perp_neg_push_is_perpendicular_to_the_prompt_direction():
    g = torch.Generator().manual_seed(0)
    eps_u, eps_c, neg1, neg2 = (torch.randn(3, 4, 8, 8, generator=g) for _ in range(4))
    weights = torch.tensor([[-0.5, -1.5], [0.0, -2.0], [-1.0, 0.0]])
    out = perp_neg_guided(eps_u, eps_c, [neg1, neg2], weights, 7.5)
    e_pos = eps_c - eps_u
    push = (out - guided(eps_u, eps_c, 7.5)) / 7.5
    dots = (push * e_pos).flatten(1).sum(1) / (push.flatten(1).norm(dim=1) * e_pos.flatten(1).norm(dim=1))
    assert dots.abs().max() < 1e-5 and push.abs().max() > 0.1
    # Sample 1 pushes only away from neg2, by 2x its part perpendicular to e_pos.
    n2 = neg2[1] - eps_u[1]
    expected = -2.0 * (n2 - (n2 * e_pos[1]).sum() / (e_pos[1] * e_pos[1]).sum() * e_pos[1])
    torch.testing.assert_close(push[1], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(perp_neg_guided(eps_u, eps_c, [neg1, neg2], torch.zeros(3, 2), 7.5),
                               guided(eps_u, eps_c, 7.5))


def test_perp_neg_on_stable_diffusion_matches_separate_unet_calls(tiny_sd_dir):
    prior = DiffusersTextPrior(str(tiny_sd_dir), torch.device("cpu"))
    prior.perp_neg = True
    cams = make_cameras([0.0, 0.0, 80.0], [45.0, 135.0, 10.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    views = {v: prior.embed_texts([f"a red cube, {v} view"])[0] for v in ("front", "side", "back", "overhead")}
    torch.testing.assert_close(cond.cond[0], 0.5 * views["front"] + 0.5 * views["side"])
    torch.testing.assert_close(cond.cond[1], 0.5 * views["side"] + 0.5 * views["back"])
    torch.testing.assert_close(cond.cond[2], views["overhead"])
    assert cond.negatives.shape == (2, 3, *views["front"].shape)
    torch.testing.assert_close(cond.negatives[1, 1], views["front"])  # side-back: [side, front]
    assert cond.negative_weights[2].abs().max() == 0

    x_t = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([100, 500, 900])
    with torch.no_grad():
        eps = prior.predict_noise(x_t, t, cond, 7.5)
        branch = [prior.unet(x_t, t, encoder_hidden_states=e).sample
                  for e in (cond.uncond, cond.cond, cond.negatives[0], cond.negatives[1])]
    expected = perp_neg_guided(branch[0], branch[1], branch[2:], cond.negative_weights, 7.5)
    torch.testing.assert_close(eps, expected, rtol=1e-4, atol=1e-4)  # batched vs separate calls, x7.5
    assert (eps - guided(branch[0], branch[1], 7.5))[:2].abs().max() > 1e-3  # the negatives change ε


def test_text_to_3d_step_with_perp_neg_on_the_embedded_prior_reaches_the_3d_parameters():
    config = load_config("dreamfusion", ["prior.perp_neg=true", "stages.0.batch_size=2"])
    config.prompt = "a red cube"
    system = TextTo3D.create(config, torch.device("cpu"))
    assert system.prior.perp_neg
    scene = system.build_scene(0, None)
    loss, logs = system.loss(scene, config.stages[0], 0, 0.1, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and logs["sds"] > 0
    assert sum(p.grad.abs().sum() for p in scene.geometry.grid.parameters() if p.grad is not None) > 0


def test_perp_neg_is_refused_where_it_cannot_apply():
    config = load_config("dreamfusion", ["prior.kind=exact-denoiser", "prior.perp_neg=true"])
    with pytest.raises(PriorUnavailable, match="image masks"):
        load_prior(config.prior, "a red cube", config.camera, torch.device("cpu"))
    config = load_config("dreamfusion", ["prior.perp_neg=true", "prior.view_dependent=false"])
    with pytest.raises(PriorUnavailable, match="view_dependent"):
        load_prior(config.prior, "a red cube", config.camera, torch.device("cpu"))


def test_offloaded_text_encoder_visits_the_device_only_to_embed(tiny_sd_dir):
    config = load_config("dreamfusion-sd", [f"prior.path={tiny_sd_dir}", "prior.cpu_offload=true"])
    prior = load_prior(config.prior, "a red cube", config.camera, torch.device("cpu"))
    reference = DiffusersTextPrior(str(tiny_sd_dir), torch.device("cpu"))
    moves = []
    original_to = prior.text_encoder.to

    def recording_to(*args, **kwargs):
        moves.append(str(args[0]))
        return original_to(*args, **kwargs)

    prior.text_encoder.to = recording_to
    cams = make_cameras([0.0], [0.0], 2.8, 42.5, 16, 16)
    cond = prior.condition("a red cube", cams, "")
    assert moves == ["cpu", "cpu"] * 2  # to the device (here the CPU) and back, once per new text
    assert next(prior.text_encoder.parameters()).device.type == "cpu"
    torch.testing.assert_close(cond.cond, reference.condition("a red cube", cams, "").cond)
    prior.condition("a red cube", cams, "")
    assert len(moves) == 4  # cached embeddings: the encoder is not touched again

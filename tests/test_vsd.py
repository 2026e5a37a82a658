"""VSD (ProlificDreamer): the LoRA particle score starts as an exact copy of the prior on every backend, learns the
renders it is shown, and its gradient reaches the 3D parameters; a VSD run resumes exactly."""

import pytest
import torch

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.errors import UserError
from threestudio_lite.priors.diffusers_text import DiffusersTextPrior
from threestudio_lite.priors.loading import shipped_prior_dir
from threestudio_lite.priors.mini.text_prior import MiniTextPrior
from threestudio_lite.priors.mini.view_prior import MiniViewPrior, Reference
from threestudio_lite.priors.sds import LoRAConfig, SDSConfig, encode_renders
from threestudio_lite.priors.vsd import ParticleScore, camera_vector, vsd_loss
from threestudio_lite.priors.zero123 import Zero123Prior
from threestudio_lite.systems.text_to_3d import TextTo3D

SIZE = {"mini-text": 32, "mini-view": 32, "sd": 16, "if": 16, "zero123": 16}


def _prior_and_condition(kind, request):
    """A prior of each backend kind and its condition for two cameras."""
    cams = make_cameras([0.0, 30.0], [0.0, 120.0], 2.4, 42.5, SIZE[kind], SIZE[kind])
    if kind == "mini-text":
        prior = MiniTextPrior.from_pretrained(shipped_prior_dir("text"))
        return prior, prior.condition("a red cube", cams), cams
    if kind == "mini-view":
        prior = MiniViewPrior.from_pretrained(shipped_prior_dir("view"))
        return prior, prior.condition(Reference(torch.ones(3, 32, 32), 0.0, 0.0, 2.4, 42.5), cams), cams
    if kind == "zero123":
        prior = Zero123Prior(str(request.getfixturevalue("tiny_zero123_dir")), torch.device("cpu"))
        reference = Reference(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)), 0.0, 30.0, 2.4, 42.5)
        return prior, prior.condition(reference, cams), cams
    prior = DiffusersTextPrior(str(request.getfixturevalue({"sd": "tiny_sd_dir", "if": "tiny_if_dir"}[kind])), torch.device("cpu"))
    return prior, prior.condition("a red cube", cams, ""), cams


def _image_gradient(prior, particle, images, cond, cams, config, seed=3):
    images = images.clone().requires_grad_()
    loss, _ = vsd_loss(prior, particle, images, cond, cams, config, 0.0, torch.Generator().manual_seed(seed))
    loss.backward()
    return images.grad


@pytest.mark.parametrize("kind", list(SIZE))
def test_zero_initialised_lora_gives_zero_vsd_gradient_without_guidance(kind, request):
    torch.manual_seed(0)
    prior, cond, cams = _prior_and_condition(kind, request)
    images = torch.rand(2, 3, SIZE[kind], SIZE[kind], generator=torch.Generator().manual_seed(1))
    x_t = torch.randn(2, *encode_renders(prior, images, False).shape[1:], generator=torch.Generator().manual_seed(2))
    t = torch.tensor([100, 600])
    with torch.no_grad():
        before = prior.predict_noise(x_t, t, cond, 3.0)
    particle = ParticleScore(prior, LoRAConfig())
    assert particle.lora and all(p.abs().sum() > 0 for k, p in particle.lora.items() if "lora_A" in k)

    off = SDSConfig(mode="vsd", guidance_scale=1.0)
    assert torch.equal(_image_gradient(prior, particle, images, cond, cams, off), torch.zeros_like(images))
    # Not vacuous: with the prior's guidance on, the same step has a gradient.
    on = SDSConfig(mode="vsd", guidance_scale=7.5)
    assert _image_gradient(prior, particle, images, cond, cams, on).abs().max() > 1e-6
    # Those two steps trained the LoRA; the prior outside it is still the pretrained model.
    assert any(p.abs().sum() > 0 for k, p in particle.lora.items() if "lora_B" in k)
    with torch.no_grad():
        torch.testing.assert_close(prior.predict_noise(x_t, t, cond, 3.0), before, rtol=0, atol=0)
        assert not torch.equal(particle.eps(x_t, t, cond, camera_vector(cams)), prior.predict_noise(x_t, t, cond, 1.0))
    particle.close()
    assert not any("lora" in name for name, _ in prior.unet.named_parameters())


def test_lora_loss_goes_down_on_fixed_renders():
    """The particle score learns renders the prior has never seen (a gray blob): its diffusion loss on a fixed
    set of (t, noise) draws falls."""
    torch.manual_seed(0)
    prior = MiniTextPrior.from_pretrained(shipped_prior_dir("text"))
    cams = make_cameras([10.0] * 4, [0.0, 90.0, 180.0, 270.0], 2.4, 42.5, 32, 32)
    cond = prior.condition("a red cube", cams)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    blob = (xx**2 + yy**2 < 0.35).float()
    x0 = encode_renders(prior, (1 - 0.6 * blob).expand(4, 3, 32, 32), False)
    particle = ParticleScore(prior, LoRAConfig(lr=3e-3))
    cam_vec = camera_vector(cams)
    g = torch.Generator().manual_seed(5)
    draws = [(torch.randint(20, 980, (4,), generator=g), torch.randn(x0.shape, generator=g)) for _ in range(8)]

    def held_loss():
        with torch.no_grad():
            total = 0.0
            for t, noise in draws:
                a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
                eps = particle.eps(a.sqrt() * x0 + (1 - a).sqrt() * noise, t, cond, cam_vec)
                total += torch.nn.functional.mse_loss(eps, noise).item()
            return total / len(draws)

    before = held_loss()
    train = torch.Generator().manual_seed(6)
    for _ in range(60):
        particle.train_step(x0, cond, cam_vec, train)
    after = held_loss()
    assert after < 0.5 * before, (before, after)


def test_vsd_gradient_reaches_the_3d_parameters_and_steps_the_lora():
    config = load_config("prolificdreamer", ["prompt=a red cube", "stages.0.resolution=16", "stages.0.batch_size=2"])
    system = TextTo3D.create(config, torch.device("cpu"))
    torch.manual_seed(0)
    scene = system.build_scene(0, None)
    assert system.particle is not None
    before = {k: v.clone() for k, v in system.particle.lora.items()}
    loss, logs = system.loss(scene, config.stages[0], 0, 0.0, torch.Generator().manual_seed(0))
    loss.backward()
    grads = [p.grad for p in scene.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum().item() for g in grads) > 0
    assert all(torch.isfinite(g).all() for g in grads)
    assert logs["lora"] > 0
    assert any(not torch.equal(before[k], v) for k, v in system.particle.lora.items())
    # The checkpointed state restores the LoRA exactly.
    state = system.state_dict()["particle"]
    system.particle.load_state_dict({**state, "lora": before})
    assert all(torch.equal(before[k], v) for k, v in system.particle.lora.items())


@pytest.mark.parametrize("carry", [False, True])
def test_a_vsd_stage_continues_the_previous_stages_lora_only_when_asked(carry):
    config = load_config("prolificdreamer", ["prompt=a red cube", "stages.1.dmtet.resolution=16",
                                             f"stages.1.guidance.lora.continue_previous_stage={str(carry).lower()}"])
    system = TextTo3D.create(config, torch.device("cpu"))
    torch.manual_seed(0)
    coarse = system.build_scene(0, None)
    first = system.particle
    with torch.no_grad():
        next(iter(first.lora.values())).add_(1.0)  # as if trained
    system.build_scene(1, coarse)
    assert (system.particle is first) == carry
    trained = torch.equal(next(iter(system.particle.lora.values())), next(iter(first.lora.values())))
    assert trained == carry
    if carry:  # different LoRA settings start a new LoRA even when asked to continue
        config.stages[1].guidance.lora.rank = 8
        system.build_scene(1, coarse)
        assert system.particle is not first


def test_vsd_needs_at_least_one_lora_update_per_step():
    """The first LoRA update shares the VSD gradient's forward pass, so a VSD stage cannot skip it."""
    config = load_config("prolificdreamer", ["prompt=a red cube", "stages.1.guidance.lora.steps_per_step=0"])
    with pytest.raises(UserError, match=r"stages\.1\.guidance\.lora\.steps_per_step must be at least 1"):
        TextTo3D.create(config, torch.device("cpu"))


def test_prolificdreamer_preset_distils_the_nerf_then_the_mesh_texture_with_vsd(tiny_text_prior_dir, tmp_path):
    """The preset's two stages (VSD NeRF, then VSD on the frozen DMTet surface's texture) run end to end and
    export a vertex-coloured GLB whose surface is the coarse stage's."""
    import json

    import trimesh
    from test_magic3d import TINY
    from test_runs import cli

    from threestudio_lite.geometry.dmtet import DMTet
    from threestudio_lite.runs import load_stage_scene

    out = tmp_path / "run"
    tiny = [a for a in TINY if not a.startswith("stages.2.")]
    cli("text-to-3d", "a red cube", "--config", "prolificdreamer", "--out", out, "--steps", 6, "--no-progress",
        "prior.kind=diffusers", f"prior.path={tiny_text_prior_dir}", *tiny)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["name"] for s in metrics["stages"]] == ["coarse", "texture"]
    glb = trimesh.load(out / "export" / "model.glb", force="mesh")
    assert glb.visual.kind == "vertex" and len(glb.visual.vertex_colors) == len(glb.vertices)
    # The texture stage leaves the shape alone: the export's surface is the coarse density's DMTet surface.
    config, coarse = load_stage_scene(out, 0)
    dmtet = DMTet(config.stages[1].dmtet)
    dmtet.init_from_scene(coarse)
    vertices, faces = dmtet.mesh()
    coarse_surface = trimesh.Trimesh(vertices.detach().numpy(), faces.numpy())
    exported = trimesh.Trimesh(glb.vertices, glb.faces, process=True)
    assert exported.volume > 0 and abs(exported.volume - coarse_surface.volume) < 1e-3 * exported.volume

"""The render regularizers: their values at known inputs and the direction they push."""

import math

import pytest
import torch

from threestudio_lite import losses


def test_opacity_entropy_is_binary_entropy_and_pushes_fog_to_solid_or_empty():
    opacity = torch.tensor([0.5, 0.68, 0.3, 1.0], requires_grad=True)
    value = losses.opacity_entropy({"opacity": opacity})
    h = lambda o: -(o * math.log(o) + (1 - o) * math.log(1 - o))  # noqa: E731
    expected = (h(0.5) + h(0.68) + h(0.3) + h(1.0 - 1e-4)) / 4
    assert abs(value.item() - expected) < 1e-5
    value.backward()
    grad = opacity.grad
    # Gradient descent raises 0.68 towards 1, lowers 0.3 towards 0; 0.5 is the maximum (zero gradient).
    assert grad[1] < -0.1 and grad[2] > 0.1 and abs(grad[0]) < 1e-6


def test_sparsity_grows_with_opacity():
    low = losses.sparsity({"opacity": torch.full((8,), 0.1)})
    high = losses.sparsity({"opacity": torch.full((8,), 0.9)})
    assert abs(low.item() - math.sqrt(0.02)) < 1e-6 and abs(high.item() - math.sqrt(0.82)) < 1e-6


def _sphere_render(size: int = 16, bumps: float = 0.0) -> dict[str, torch.Tensor]:
    """Normals and depth of a unit sphere's front half seen orthographically (B=1), covered inside the disc."""
    u = torch.linspace(-1.2, 1.2, size)
    y, x = torch.meshgrid(u, u, indexing="ij")
    inside = (x * x + y * y < 1.0).float()[None, ..., None]
    z = (1.0 - x * x - y * y).clamp(min=0.0).sqrt()
    normal = torch.stack([x, y, z], -1)[None] + bumps * torch.randn(1, size, size, 3, generator=torch.Generator().manual_seed(0))
    depth = (3.0 - z)[None, ..., None]
    return {"normal": normal * inside, "depth": depth * inside, "opacity": inside}


def test_normal_smoothness_counts_covered_neighbours_only_and_smooths_bumps():
    smooth, bumpy = _sphere_render(), _sphere_render(bumps=0.3)
    assert losses.normal_smoothness(bumpy) > 3.0 * losses.normal_smoothness(smooth)
    # The silhouette (a covered pixel beside the background) costs nothing: a flat disc scores exactly 0.
    flat = {"normal": torch.tensor([0.0, 0.0, 1.0]) * smooth["opacity"], "opacity": smooth["opacity"]}
    assert losses.normal_smoothness(flat).item() == 0.0
    # Value on a 2x1 image: one covered pair with opacities 1 and 0.5 whose unit normals are 90 degrees apart.
    pair = {"normal": torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]]]]), "opacity": torch.tensor([[[[1.0], [0.5]]]])}
    assert abs(losses.normal_smoothness(pair).item() - 2.0) < 1e-6
    # A gradient step on the bumpy normals lowers the term.
    normal = bumpy["normal"].clone().requires_grad_(True)
    value = losses.normal_smoothness({"normal": normal, "opacity": bumpy["opacity"]})
    value.backward()
    with torch.no_grad():
        after = losses.normal_smoothness({"normal": normal - 0.05 * normal.grad, "opacity": bumpy["opacity"]})
    assert after < value


def test_depth_smoothness_is_zero_on_a_plane_facing_the_camera_and_grows_with_relief():
    render = _sphere_render()
    plane = dict(render, depth=2.0 * render["opacity"])
    assert losses.depth_smoothness(plane).item() < 1e-10
    deeper = dict(render, depth=(render["depth"] - 3.0) * 2.0 + 3.0 * render["opacity"])  # twice the relief
    assert abs(losses.depth_smoothness(deeper).item() / losses.depth_smoothness(render).item() - 4.0) < 1e-3


@pytest.mark.parametrize("term, bar", [("normal_smoothness", 0.7), ("depth_smoothness", 0.9)])
def test_smoothness_terms_reach_the_nerf_density_and_smooth_a_bumpy_ball(term, bar):
    """Through the volume renderer (analytic normals from the density grid): descending the term alone
    lowers it on a ball with bumps at every step (depth more slowly: the ball's own relief is most of it)."""
    from threestudio_lite.config import load_config
    from threestudio_lite.data.cameras import make_cameras
    from threestudio_lite.systems.distillation import build_scene

    torch.manual_seed(0)
    stage = load_config("zero123").stages[0]
    stage.geometry.active_levels = len(stage.geometry.resolutions)  # every level on: the ball sits on the finest
    scene = build_scene(stage)
    geometry = scene.geometry

    def bumpy(p):
        radius = 0.5 + 0.06 * torch.sin(9.0 * p[:, 0]) * torch.sin(9.0 * p[:, 1]) * torch.sin(9.0 * p[:, 2])
        return -4.0 + 12.0 * torch.sigmoid((radius - p.norm(dim=-1)) / 0.03)

    with torch.no_grad():
        geometry.set_log_density(bumpy)
    cams = make_cameras(torch.tensor([0.0, 30.0]), torch.tensor([0.0, 120.0]), 2.4, 42.5, 24, 24)
    fn = getattr(losses, term)
    optimizer = torch.optim.Adam(geometry.parameters(), lr=0.02)
    values = []
    for step in range(12):
        value = fn(scene.render(cams, ["lambertian"] * 2, 1.0, step=step))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert all(b < a for a, b in zip(values, values[1:])) and values[-1] < bar * values[0], values

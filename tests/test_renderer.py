"""Grid lookups, volume-rendering weights, occupancy skipping and the rendered silhouette."""

import math

import nerfacc
import torch
import torch.nn.functional as F

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.geometry.grid_encoding import (
    channels_last_table,
    spatial_gradient,
    trilinear,
)
from threestudio_lite.geometry.implicit_volume import (
    ImplicitVolume,
    ImplicitVolumeConfig,
)
from threestudio_lite.renderers.background import Background, BackgroundConfig
from threestudio_lite.renderers.material import MaterialConfig
from threestudio_lite.renderers.volume import RendererConfig, VolumeRenderer
from threestudio_lite.systems.nerf_scene import NerfScene


def sharp_sphere_volume(radius=0.6, resolutions=(16, 32, 64)):
    geo = ImplicitVolume(ImplicitVolumeConfig(resolutions=list(resolutions), active_levels=float(len(resolutions))))
    lo, hi = math.log(1e-3), math.log(300.0)
    geo.set_log_density(lambda p: lo + (hi - lo) * torch.sigmoid(-(p.norm(dim=-1) - radius) / 0.01))
    return geo


def test_trilinear_matches_grid_sample_in_value_and_gradient_and_is_deterministic():
    torch.manual_seed(0)
    grid = torch.randn(5, 12, 12, 12, requires_grad=True)
    x = torch.rand(5000, 3) * 2 - 1
    ours = trilinear(channels_last_table(grid), 12, x)
    # grid_sample reads (x, y, z) as (W, H, D): our grid[c, i, j, k] is indexed x, y, z.
    ref = F.grid_sample(grid.permute(0, 3, 2, 1)[None], x.view(1, -1, 1, 1, 3), align_corners=True).view(5, -1).t()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), grid)
    grads = [torch.autograd.grad(trilinear(channels_last_table(grid), 12, x).square().sum(), grid)[0] for _ in range(3)]
    torch.testing.assert_close(grads[0], g_ref, atol=1e-4, rtol=1e-4)
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_spatial_gradient_of_a_linear_field_is_exact():
    axis = torch.linspace(-1, 1, 9)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    grid = (0.5 * x - 2.0 * y + 3.0 * z)[None]
    grad = spatial_gradient(grid)
    for c, expected in enumerate([0.5, -2.0, 3.0]):
        torch.testing.assert_close(grad[c], torch.full_like(grad[c], expected), atol=1e-5, rtol=0)


def test_nerfacc_dense_weights_match_hand_transmittance():
    g = torch.Generator().manual_seed(0)
    t = torch.sort(torch.rand(4, 11, generator=g), dim=1).values
    sigmas = torch.rand(4, 10, generator=g) * 5
    weights, _, _ = nerfacc.render_weight_from_density(t[:, :-1], t[:, 1:], sigmas)
    tau = sigmas * (t[:, 1:] - t[:, :-1])
    alpha = 1 - torch.exp(-tau)
    trans = torch.exp(-(torch.cumsum(tau, 1) - tau))
    torch.testing.assert_close(weights, trans * alpha, atol=1e-6, rtol=1e-5)


def _render(geo, renderer_config, cams, shading=None):
    renderer = VolumeRenderer(renderer_config)
    field = geo.snapshot(1.0)
    renderer.update_occupancy(field, 0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        return renderer(field, Background(BackgroundConfig()), cams, shading or ["lambertian"] * len(cams), MaterialConfig())


def test_occupancy_and_early_stop_skip_samples_without_changing_the_image():
    geo = sharp_sphere_volume()
    cams = make_cameras([10.0, 40.0], [0.0, 130.0], 2.8, 42.5, 32, 32)
    dense = _render(geo, RendererConfig(num_samples=64, occupancy=False, early_stop_transmittance=0.0), cams)
    fast = _render(geo, RendererConfig(num_samples=64), cams)
    assert fast["samples_evaluated"] < 0.25 * dense["samples_evaluated"]
    assert (fast["rgb"] - dense["rgb"]).abs().max() < 0.02
    assert (fast["opacity"] - dense["opacity"]).abs().max() < 0.02


def test_sphere_silhouette_depth_and_normals_match_the_analytic_sphere():
    radius, dist, fovy, size = 0.6, 2.8, 42.5, 48
    geo = sharp_sphere_volume(radius)
    cams = make_cameras([20.0], [30.0], dist, fovy, size, size)
    out = _render(geo, RendererConfig(num_samples=96), cams)
    # Analytic silhouette: pixels whose ray passes within `radius` of the origin.
    origins, dirs = cams.rays()
    o, d = origins[0], dirs[0]
    closest = (o - (o * d).sum(-1, keepdim=True) * d).norm(dim=-1)
    truth = closest < radius
    mask = out["opacity"][0, ..., 0] > 0.5
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.95, iou
    # Depth of the centre pixel is distance - radius (the 64³ grid blurs the surface over a cell);
    # the normal there faces the camera.
    c = size // 2
    assert abs(out["depth"][0, c, c, 0].item() - (dist - radius)) < 0.05  # within ~1.5 grid cells
    n = F.normalize(out["normal"][0, c, c], dim=0)
    assert torch.dot(n, -d[c, c]) > 0.98


def test_textureless_shading_of_a_sphere_matches_the_world_renderer_under_a_side_light():
    """Deferred shading lights each ray at its expected surface point with its composited normal: on a
    sharp sphere that is the world renderer's exact Lambertian shading, light placed off the camera axis."""
    from threestudio_lite.world.objects import Part, WorldObject
    from threestudio_lite.world.render import render
    from threestudio_lite.world.sdf import Sphere

    cams = make_cameras([20.0], [30.0], 2.8, 42.5, 48, 48, light_positions=[[0.0, 2.5, 1.5]])
    ours = _render(sharp_sphere_volume(0.6), RendererConfig(num_samples=96), cams, shading=["textureless"])
    sphere = WorldObject("sphere", (Part("sphere", Sphere(0.6), "white"),), "white")
    truth = render(sphere, cams, shading="textureless")
    inside = (truth[0, ..., 3] > 0.99) & (ours["opacity"][0, ..., 0] > 0.99)
    shade_ours, shade_truth = ours["rgb"][0][inside], truth[0, ..., :3][inside]
    assert shade_truth.std() > 0.1  # the side light makes a real gradient of shading
    assert (shade_ours - shade_truth).abs().mean() < 0.03


def test_scheduled_sample_step_refines_with_progress_and_matches_a_fixed_renderer():
    """``num_samples`` as a schedule [[0, 32], [0.5, 32], [0.5, 64]]: at progress 0.75 the renderer places exactly
    the samples of a fixed 64-sample renderer and renders its image; at 0.25 it evaluates about half as many. A NeRF
    scene hands its render's progress on to the renderer (the same ratio through ``NerfScene.render``)."""
    geo = sharp_sphere_volume()
    cams = make_cameras([10.0, 40.0], [0.0, 130.0], 2.8, 42.5, 24, 24)
    field = geo.snapshot(1.0)
    scheduled = VolumeRenderer(RendererConfig(num_samples=[[0.0, 32.0], [0.5, 32.0], [0.5, 64.0]]))
    scheduled.update_occupancy(field, 0, torch.Generator().manual_seed(0), progress=1.0)  # as _render's: same mask

    def render(renderer, progress):
        with torch.no_grad():
            return renderer(field, Background(BackgroundConfig()), cams, ["lambertian"] * 2, MaterialConfig(),
                            progress=progress)

    early, late = render(scheduled, 0.25), render(scheduled, 0.75)
    assert 1.7 < late["samples_evaluated"] / early["samples_evaluated"] < 2.3
    fixed = _render(geo, RendererConfig(num_samples=64), cams)
    assert late["samples_evaluated"] == fixed["samples_evaluated"]
    torch.testing.assert_close(late["rgb"], fixed["rgb"], atol=1e-6, rtol=0)
    assert (late["opacity"] - early["opacity"]).abs().mean() < 0.01  # the same sphere (edges graze differently)
    stage = load_config("dreamfusion", ["stages.0.renderer.num_samples=[[0, 32], [0.5, 32], [0.5, 64]]",
                                        "stages.0.geometry.resolutions=[8, 12]"]).stages[0]
    scene = NerfScene(stage)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        counts = [scene.render(cams, ["lambertian"] * 2, p, step=1, generator=g)["samples_evaluated"] for p in (0.25, 0.75)]
    assert 1.7 < counts[1] / counts[0] < 2.3
    for bad in (0.0, [[0.0, 48.0], [1.0, 0.0]]):
        try:
            VolumeRenderer(RendererConfig(num_samples=bad))
        except ValueError as e:
            assert "num_samples" in str(e)
        else:
            raise AssertionError(f"num_samples={bad!r} was accepted")

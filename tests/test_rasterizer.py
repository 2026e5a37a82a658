"""The CPU mesh rasterizer against an exact ray–triangle reference, its gradients against finite differences,
and its silhouette antialiasing against exact polygon areas."""

import math

import pytest
import torch
import trimesh

from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.renderers.background import Background, BackgroundConfig
from threestudio_lite.renderers.material import MaterialConfig
from threestudio_lite.renderers.mesh import render_mesh
from threestudio_lite.renderers.rasterizer import interpolate, rasterize


def ray_triangle_reference(vertices, faces, cameras):
    """Nearest hit per pixel ray (Möller–Trumbore over every face, float64): face (-1: none), distance,
    barycentrics."""
    o, d = (x.reshape(-1, 3).double() for x in cameras.rays())
    v = vertices.double()[faces]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    p = torch.linalg.cross(d[:, None].expand(-1, len(faces), -1), e2[None].expand(len(d), -1, -1), dim=-1)
    det = (e1[None] * p).sum(-1)
    tv = o[:, None] - v[None, :, 0]
    u = (tv * p).sum(-1) / det
    q = torch.linalg.cross(tv, e1[None].expand_as(tv), dim=-1)
    w = (d[:, None] * q).sum(-1) / det
    t = (e2[None] * q).sum(-1) / det
    hit = (u >= 0) & (w >= 0) & (u + w <= 1) & (det.abs() > 1e-12) & (t > 0)
    t_min, face = torch.where(hit, t, torch.inf).min(1)
    face = torch.where(torch.isfinite(t_min), face, -1)
    uu, ww = u.gather(1, face.clamp(min=0)[:, None])[:, 0], w.gather(1, face.clamp(min=0)[:, None])[:, 0]
    return face, t_min, torch.stack([1 - uu - ww, uu, ww], -1)


@pytest.mark.parametrize("mesh", [trimesh.creation.icosphere(2, radius=0.8), trimesh.creation.box((1.0, 0.6, 0.9)),
                                  trimesh.creation.torus(0.6, 0.25, major_sections=24, minor_sections=12)],
                         ids=["sphere", "box", "torus"])
def test_coverage_depth_and_barycentrics_match_exact_ray_casting(mesh):
    vertices, faces = torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces)
    cams = make_cameras([20.0, -10.0, 60.0], [30.0, 200.0, -75.0], 2.5, 40.0, 40, 40)
    fragments = rasterize(vertices, faces, cams)
    face, distance, bary = ray_triangle_reference(vertices, faces, cams)
    ours = fragments.face.reshape(-1)
    assert (ours >= 0).float().mean() > 0.2
    assert ((ours >= 0) != (face >= 0)).float().mean() < 0.01  # coverage within 1% of pixels
    both = (ours >= 0) & (face >= 0)
    same = both & (ours == face)
    assert same.sum() >= 0.99 * both.sum()
    origins, dirs = (x.reshape(-1, 3).double() for x in cams.rays())
    points = interpolate(vertices, faces, fragments).reshape(-1, 3).double()
    torch.testing.assert_close(points[both], (origins + dirs * distance[:, None])[both], atol=1e-4, rtol=0)
    torch.testing.assert_close(fragments.bary.reshape(-1, 3)[same].double(), bary[same], atol=5e-4, rtol=0)
    # depth is along the view axis: the hit's distance times the cosine to the optical axis
    axis = -cams.c2w[:, :3, 2].repeat_interleave(40 * 40, 0).double()
    torch.testing.assert_close(fragments.depth.reshape(-1)[both].double(), (distance[:, None] * dirs * axis).sum(-1)[both],
                               atol=1e-4, rtol=0)


def _shaded_loss(faces, cams, weights):
    background = Background(BackgroundConfig()).double()

    def albedo(p):
        return 0.5 + 0.4 * torch.sin(torch.stack([3 * p[:, 0], 2 * p[:, 1] + 1, 4 * p[:, 2]], -1))

    def loss(vertices):
        out = render_mesh(vertices, faces, albedo, background, cams, ["lambertian"], MaterialConfig())
        return (torch.cat([out["rgb"], out["opacity"]], -1) * weights).sum()

    return loss


def test_vertex_gradients_of_a_shaded_antialiased_image_match_finite_differences():
    mesh = trimesh.creation.icosphere(2, radius=0.7)
    vertices, faces = torch.tensor(mesh.vertices, dtype=torch.float64), torch.tensor(mesh.faces)
    cams = make_cameras([15.0], [20.0], 2.5, 40.0, 32, 32)
    weights = torch.rand(1, 32, 32, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = _shaded_loss(faces, cams, weights)
    v = vertices.clone().requires_grad_()
    loss(v).backward()
    picked = torch.randperm(len(vertices), generator=torch.Generator().manual_seed(1))[:25]
    numeric, analytic = [], []
    for index in picked:
        for axis in range(3):
            step = torch.zeros_like(vertices)
            step[index, axis] = 1e-5
            with torch.no_grad():
                numeric.append((loss(vertices + step) - loss(vertices - step)).item() / 2e-5)
            analytic.append(v.grad[index, axis].item())
    numeric, analytic = torch.tensor(numeric), torch.tensor(analytic)
    assert numeric.norm() > 1.0
    assert (numeric - analytic).norm() / numeric.norm() < 1e-4


def test_the_outline_gets_gradients_growing_the_mesh_grows_its_opacity():
    mesh = trimesh.creation.icosphere(2, radius=0.6)
    vertices, faces = torch.tensor(mesh.vertices, dtype=torch.float64), torch.tensor(mesh.faces)
    cams = make_cameras([10.0], [0.0], 2.5, 40.0, 32, 32)
    background = Background(BackgroundConfig()).double()

    def coverage(scale):
        out = render_mesh(vertices * scale, faces, lambda p: torch.ones_like(p), background, cams, ["albedo"],
                          MaterialConfig())
        return out["opacity"].sum()

    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    coverage(scale).backward()
    numeric = (coverage(torch.tensor(1.0 + 1e-5, dtype=torch.float64)) - coverage(torch.tensor(1.0 - 1e-5, dtype=torch.float64))).item() / 2e-5
    assert scale.grad.item() == pytest.approx(numeric, rel=1e-4)
    # A sphere of radius r at distance d projects to a disc of radius ∝ r / sqrt(d² - r²): its area A grows as
    # d(log A)/d(log r) = 2 (1 + r² / (d² - r²)). Without outline gradients the derivative would be 0.
    expected = 2.0 * (1.0 + 0.36 / (2.5**2 - 0.36)) * coverage(torch.tensor(1.0, dtype=torch.float64)).item()
    assert scale.grad.item() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("degrees", [0.0, 5.0, 17.0, 41.0])
def test_antialiased_opacity_covers_the_exact_area_of_a_square(degrees):
    angle = math.radians(degrees)
    square = torch.tensor([[0, -0.3, -0.3], [0, 0.3, -0.3], [0, 0.3, 0.3], [0, -0.3, 0.3]], dtype=torch.float64)
    rotation = torch.tensor([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]],
                            dtype=torch.float64)
    vertices, faces = square @ rotation.T, torch.tensor([[0, 1, 2], [0, 2, 3]])
    cams = make_cameras([0.0], [0.0], 2.5, 40.0, 32, 32)
    out = render_mesh(vertices, faces, lambda p: torch.ones_like(p), Background(BackgroundConfig()).double(), cams,
                      ["albedo"], MaterialConfig())
    uv, _ = cams.project(vertices[None])
    x, y = uv[0, :, 0], uv[0, :, 1]
    exact = 0.5 * abs((x * y.roll(-1) - x.roll(-1) * y).sum()).item()
    assert out["opacity"].min() >= 0 and out["opacity"].max() <= 1
    assert out["opacity"].sum().item() == pytest.approx(exact, rel=0.01)
    assert ((out["opacity"] > 0.01) & (out["opacity"] < 0.99)).sum() > 20  # the outline is soft


def test_mesh_renders_come_in_the_volume_renderers_format():
    mesh = trimesh.creation.icosphere(1, radius=0.7)
    vertices, faces = torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces)
    cams = make_cameras([0.0, 30.0], [0.0, 90.0], 2.5, 40.0, 24, 20)
    out = render_mesh(vertices, faces, lambda p: torch.full_like(p, 0.5), Background(BackgroundConfig()), cams,
                      ["lambertian", "textureless"], MaterialConfig())
    for name, channels in (("rgb", 3), ("opacity", 1), ("depth", 1), ("normal", 3)):
        assert out[name].shape == (2, 24, 20, channels)
    centre = out["normal"][0, 12, 10]
    torch.testing.assert_close(centre, torch.tensor([1.0, 0.0, 0.0]), atol=0.1, rtol=0)  # facing the camera at +x
    assert out["depth"][0, 12, 10, 0] == pytest.approx(2.5 - 0.7, abs=0.05)
    assert out["rgb"][0, 0, 0].tolist() == [1.0, 1.0, 1.0]  # background

"""World objects: placement in the unit sphere, colours, parts, front markers, surface sampling, truth meshes."""

import itertools
import math

import numpy as np
import pytest
import torch

from threestudio_lite.world import (
    COLORS,
    COMPOSITES,
    SIZES,
    all_objects,
    composite_object,
    grid_points,
    simple_object,
    surface_mesh,
)

ASYMMETRIC = ("snowman", "mug", "house")


def test_all_objects_lie_inside_radius_095():
    grid = grid_points(64)
    shell = grid[grid.norm(dim=-1) > 0.95]
    for obj in all_objects():
        assert obj.sdf(shell).min().item() > 0, obj


@pytest.mark.parametrize("obj", [simple_object("cube", "red")] + [composite_object(n) for n in COMPOSITES])
def test_surface_samples_lie_on_the_surface_with_the_right_colours(obj):
    points, colors = obj.sample_surface(4000, torch.Generator().manual_seed(0))
    assert points.shape == colors.shape == (4000, 3)
    assert obj.sdf(points).abs().max() < 1e-4
    assert points.norm(dim=-1).max() < 0.95
    assert torch.equal(colors, obj.color(points))
    assert colors.min() >= 0 and colors.max() <= 1


def test_default_size_bodies_fill_the_frame():
    for obj in [o for o in all_objects() if o.size == "" and o.color_name in ("red", None)]:
        points, _ = obj.sample_surface(4000, torch.Generator().manual_seed(0))
        assert 0.6 < points.norm(dim=-1).max() < 0.95, obj.shape


def test_surface_samples_are_area_uniform():
    cube = simple_object("cube", "red")
    points, _ = cube.sample_surface(60000, torch.Generator().manual_seed(1))
    face = points.abs().argmax(-1) * 2 + (points.gather(1, points.abs().argmax(-1, keepdim=True))[:, 0] > 0)
    fractions = torch.bincount(face, minlength=6).float() / len(points)
    assert (fractions - 1 / 6).abs().max() < 0.01
    sphere = simple_object("sphere", "blue")
    points, _ = sphere.sample_surface(60000, torch.Generator().manual_seed(2))
    # Archimedes: z is uniform on [-r, r] for area-uniform points on a sphere.
    z = points[:, 2] / 0.78
    hist = torch.histc(z, bins=10, min=-1, max=1) / len(z)
    assert (hist - 0.1).abs().max() < 0.01


def test_sizes_scale_the_same_shape():
    small, default, large = (simple_object("torus", "green", size) for size in ("small", "", "large"))
    for obj, scale in ((small, SIZES["small"]), (default, SIZES[""]), (large, SIZES["large"])):
        # The torus ring (major 0.7, minor 0.3 canonically) passes through (0.7 s, 0, 0).
        assert abs(obj.sdf(torch.tensor([[0.7 * scale, 0.0, 0.0]])).item() + 0.3 * scale) < 1e-6
    assert SIZES["small"] < SIZES[""] < SIZES["large"] < 0.95


def test_proportions_change_the_shape():
    tall, flat = simple_object("cylinder", "red", "", "tall"), simple_object("cylinder", "red", "", "flat")
    top = torch.tensor([[0.0, 0.0, 0.65]])
    rim = torch.tensor([[0.7, 0.0, 0.0]])
    assert tall.sdf(top).item() < 0 < flat.sdf(top).item()
    assert flat.sdf(rim).item() < 0 < tall.sdf(rim).item()


def test_colours_are_distinct_and_not_black():
    rgb = torch.tensor(list(COLORS.values()))
    assert len(COLORS) >= 10
    assert rgb.max(-1).values.min() > 0.3
    distances = [torch.dist(a, b).item() for a, b in itertools.combinations(rgb, 2)]
    assert min(distances) > 0.25


def test_color_is_the_colour_of_the_nearest_part():
    snowman = composite_object("snowman")
    nose_tip, head_top = torch.tensor([[0.47, 0.0, 0.58]]), torch.tensor([[0.0, 0.0, 0.81]])
    assert torch.allclose(snowman.color(nose_tip), torch.tensor([COLORS["orange"]]))
    assert torch.allclose(snowman.color(head_top), torch.tensor([COLORS["white"]]))


def test_front_markers_point_to_plus_x():
    markers = {obj.shape: obj.front_marker for obj in all_objects() if obj.front_marker is not None}
    assert set(markers) == set(ASYMMETRIC)
    for name in ASYMMETRIC:
        obj = composite_object(name)
        points, colors = obj.sample_surface(6000, torch.Generator().manual_seed(0))
        on_marker = (colors == torch.tensor(obj.front_marker.rgb)).all(-1)
        centroid = points[on_marker].mean(0)
        assert on_marker.sum() > 50
        assert centroid[0] > 0.3 and abs(centroid[1]) < 0.02, name
        assert (points[on_marker, 0] > 0.1).all(), name


def test_symmetric_objects_are_mirror_symmetric_front_to_back():
    points = torch.rand(20000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mirrored = points * torch.tensor([-1.0, 1.0, 1.0])
    for obj in all_objects():
        symmetric = torch.allclose(obj.sdf(points), obj.sdf(mirrored), atol=1e-5)
        assert symmetric == (obj.front_marker is None), obj.shape


def test_surface_mesh_is_closed_and_matches_analytic_volumes():
    sphere, cube = simple_object("sphere", "red"), simple_object("cube", "red", "large")
    mesh = surface_mesh(sphere, 96)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * 0.78**3, rel=0.01)
    mesh = surface_mesh(cube, 96)
    assert mesh.volume == pytest.approx((2 * 0.92 / math.sqrt(3)) ** 3, rel=0.01)
    assert np.all(mesh.visual.vertex_colors[:, :3] == np.round(np.array(COLORS["red"]) * 255))

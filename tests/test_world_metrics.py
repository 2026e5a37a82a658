"""Ground-truth metrics on meshes, fields and images with known answers."""

import math

import numpy as np
import pytest
import torch
import trimesh

from threestudio_lite.world import (
    COLORS,
    chamfer_distance,
    color_error,
    composite_object,
    front_marker_check,
    grid_points,
    mask_iou,
    mesh_occupancy,
    psnr,
    simple_object,
    surface_mesh,
    volumetric_iou_field,
    volumetric_iou_mesh,
)

SPHERE = simple_object("sphere", "red")  # radius 0.78
CUBE = simple_object("cube", "red")  # half side 0.78 / sqrt(3)
CUBE_HALF = 0.78 / math.sqrt(3)


def test_exact_box_mesh_matches_the_cube():
    box = trimesh.creation.box(extents=[2 * CUBE_HALF] * 3)
    assert volumetric_iou_mesh(box, CUBE) >= 0.97
    assert chamfer_distance(box, CUBE, n_points=5000) < 0.01


def test_icosphere_matches_the_sphere_and_a_shrunken_one_gives_the_analytic_iou():
    assert volumetric_iou_mesh(trimesh.creation.icosphere(subdivisions=4, radius=0.78), SPHERE) >= 0.97
    small = trimesh.creation.icosphere(subdivisions=4, radius=0.62)
    assert volumetric_iou_mesh(small, SPHERE) == pytest.approx((0.62 / 0.78) ** 3, abs=0.03)
    # Every point of one surface is 0.16 from the other (up to the icosphere's faceting).
    assert chamfer_distance(small, SPHERE, n_points=5000) == pytest.approx(0.16, abs=0.003)


def test_mesh_occupancy_of_a_rotated_box_matches_the_analytic_inside_test():
    rotation = trimesh.transformations.rotation_matrix(0.5, [1, 2, 3])
    box = trimesh.creation.box(extents=[1.0, 0.6, 0.8], transform=rotation)
    inside = mesh_occupancy(box, 48).reshape(-1)
    local = (grid_points(48).double().numpy() @ rotation[:3, :3])  # world to box frame (orthonormal)
    expected = np.all(np.abs(local) < [0.5, 0.3, 0.4], axis=1)
    assert inside.sum() > 1000
    assert np.array_equal(inside, expected)


def test_mesh_occupancy_handles_concave_meshes_and_shared_edges_on_grid_columns():
    # The mug is concave (its cavity and the hole of its handle). The diagonals splitting the faces of a
    # centred box run exactly through the grid columns x = y, where each crossing must be counted once.
    mug = composite_object("mug")
    assert volumetric_iou_mesh(surface_mesh(mug, 96), mug, 64) > 0.97
    inside = mesh_occupancy(trimesh.creation.box(extents=[1.0, 1.0, 1.0]), 64)
    assert inside.sum() == 32**3 and inside[16:48, 16:48, 16:48].all()


def test_volumetric_iou_of_fields():
    assert volumetric_iou_field(lambda p: SPHERE.sdf(p) < 0, SPHERE, 48) == 1.0
    ball = volumetric_iou_field(lambda p: p.norm(dim=-1) < 0.62, SPHERE, 48)
    assert ball == pytest.approx((0.62 / 0.78) ** 3, abs=0.03)
    assert volumetric_iou_field(lambda p: p[:, 0] > 2.0, SPHERE, 32) == 0.0


def test_color_error_is_zero_for_truth_colours_and_the_colour_gap_otherwise():
    snowman = composite_object("snowman")
    mesh = surface_mesh(snowman, 96)
    points = torch.from_numpy(np.asarray(mesh.vertices)).float()
    assert color_error(mesh.vertices, snowman.color(points).numpy(), snowman) < 1e-3
    assert color_error(mesh.vertices, mesh.visual.vertex_colors, snowman) < 2.0 / 255  # uint8 rounding only
    red, blue = np.array(COLORS["red"]), np.array(COLORS["blue"])
    points, _ = CUBE.sample_surface(2000, torch.Generator().manual_seed(0))
    wrong = np.tile(blue, (2000, 1))
    assert color_error(points.numpy(), wrong, CUBE) == pytest.approx(np.abs(red - blue).mean(), abs=1e-6)


def _with_colors(mesh, colors):
    copy = mesh.copy()
    copy.visual.vertex_colors = colors
    return copy


def test_front_marker_check():
    assert front_marker_check(surface_mesh(SPHERE, 64), surface_mesh(SPHERE, 64).visual.vertex_colors, SPHERE) is None
    for name in ("snowman", "mug", "house"):
        obj = composite_object(name)
        truth = surface_mesh(obj, 96)
        assert front_marker_check(truth, truth.visual.vertex_colors, obj) is True, name
        backwards = truth.copy()
        backwards.vertices[:, 0] *= -1  # marker now on the back
        assert front_marker_check(backwards, truth.visual.vertex_colors, obj) is False, name
        body = np.tile(np.round(np.array(obj.parts[0].rgb) * 255).astype(np.uint8), (len(truth.vertices), 1))
        assert front_marker_check(truth, body, obj) is False, name  # marker missing

    # A second door painted on the back wall of the house.
    house = composite_object("house")
    truth = surface_mesh(house, 96)
    colors = np.asarray(truth.visual.vertex_colors)[:, :3].copy()
    mirrored = torch.from_numpy(np.asarray(truth.vertices) * [-1, 1, 1]).float()
    on_door_when_mirrored = (house.color(house.project(mirrored)) == torch.tensor(COLORS["red"])).all(-1).numpy()
    colors[on_door_when_mirrored & (truth.vertices[:, 0] < 0)] = np.round(np.array(COLORS["red"]) * 255)
    assert front_marker_check(truth, colors, house) is False


def test_psnr_and_mask_iou():
    a = torch.rand(2, 16, 16, 3)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-4)
    mask = torch.zeros(16, 16)
    mask[:, :8] = 1.0
    shifted = torch.zeros(16, 16)
    shifted[:, 4:12] = 0.8
    assert mask_iou(mask, mask) == 1.0
    assert mask_iou(mask, shifted) == pytest.approx(4 / 12)
    assert mask_iou(mask, 1 - mask) == 0.0
    assert mask_iou(torch.zeros(4, 4), torch.zeros(4, 4)) == 1.0

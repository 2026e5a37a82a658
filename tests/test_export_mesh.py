"""Mesh extraction: a density field whose interior was never supervised (a hollow shell) still exports a solid."""

import numpy as np
import trimesh

from threestudio_lite.export.mesh import fill_cavities


def shell_volume(resolution=48, radius=0.6, thickness=0.08, pinhole=True):
    axis = np.linspace(-1.0, 1.0, resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    volume = np.where(np.abs(r - radius) < thickness, 20.0, 0.5)  # dense skin, thin fog inside and out
    if pinhole:  # a one-voxel hole through the skin
        i = np.argmin(np.abs(axis - radius))
        mid = resolution // 2
        volume[i - 2 : i + 3, mid, mid] = 0.5
    return volume


def mesh_volume(volume, level):
    import mcubes

    vertices, faces = mcubes.marching_cubes(volume, level)
    return abs(trimesh.Trimesh(vertices * (2.0 / (len(volume) - 1)) - 1.0, faces).volume)


def test_a_hollow_shell_with_a_pinhole_is_filled_to_a_solid_ball():
    volume = shell_volume()
    solid = 4.0 / 3.0 * np.pi * 0.68**3  # the skin's outer radius
    assert mesh_volume(volume, 5.0) < 0.7 * solid  # outer minus inner surface: a thin shell
    filled = mesh_volume(fill_cavities(volume, 5.0), 5.0)
    assert abs(filled - solid) / solid < 0.08, (filled, solid)


def test_filling_leaves_a_solid_field_and_the_outside_unchanged():
    volume = shell_volume(pinhole=False)
    filled = fill_cavities(volume, 5.0)
    axis = np.linspace(-1.0, 1.0, len(volume))
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    outside = np.sqrt(x**2 + y**2 + z**2) > 0.75
    assert np.array_equal(filled[outside], volume[outside])
    assert (filled[np.sqrt(x**2 + y**2 + z**2) < 0.5] > 5.0).all()
    assert np.array_equal(fill_cavities(filled, 5.0), filled)


def test_a_shell_opened_by_a_wide_hole_is_filled_but_an_open_cup_and_a_torus_hole_stay_open():
    axis = np.linspace(-1.0, 1.0, 48)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    rho, r = np.hypot(x, y), np.sqrt(x**2 + y**2 + z**2)
    opened = shell_volume(pinhole=False)
    opened[(z < -0.4) & (rho < 0.25)] = 0.5  # a hole 0.5 wide in the bottom: far wider than the seal
    filled = fill_cavities(opened, 5.0)
    assert (filled[(r < 0.5) & (rho > 0.3)] > 5.0).all()  # all but the column straight above the hole
    assert mesh_volume(filled, 5.0) > 0.85 * 4.0 / 3.0 * np.pi * 0.68**3
    wall, bottom = (np.abs(rho - 0.5) < 0.06) & (np.abs(z) < 0.5), (rho < 0.56) & (np.abs(z + 0.5) < 0.06)
    cup = np.where(wall | bottom, 20.0, 0.5)
    inside_cup = (rho < 0.35) & (z > -0.35) & (z < 0.45)
    assert (fill_cavities(cup, 5.0)[inside_cup] == 0.5).all()
    torus = np.where(np.hypot(rho - 0.6, z) < 0.2, 20.0, 0.5)
    assert (fill_cavities(torus, 5.0)[rho < 0.3] == 0.5).all()

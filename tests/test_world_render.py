"""The world renderer against the camera convention, analytic coverage, the light model and the PNG writer."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.utils.images import save_image
from threestudio_lite.world import (
    COLORS,
    Part,
    WorldObject,
    composite,
    composite_object,
    render,
    render_caption_to_png,
    render_many,
    simple_object,
)
from threestudio_lite.world.sdf import Sphere, Translate


def _alpha_centroid(alpha):
    """(u, v) centroid of an alpha image (H, W), pixel centres at +0.5."""
    h, w = alpha.shape
    v, u = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([(alpha * u).sum(), (alpha * v).sum()]) / alpha.sum()


def test_off_centre_sphere_lands_where_cameras_project_its_centre():
    centre = (0.35, -0.25, 0.2)
    probe = WorldObject("probe", (Part("probe", Translate(Sphere(0.15), centre), "white"),))
    elevation, azimuth = [20.0, -10.0, 35.0, 0.0], [30.0, 150.0, -100.0, 0.0]
    cams = make_cameras(elevation, azimuth, [2.8, 2.6, 3.0, 2.7], [42.0, 40.0, 45.0, 41.0], 64, 64)
    alpha = render(probe, cams, "albedo")[..., 3]
    expected, _ = cams.project(torch.tensor([centre]).expand(len(cams), 1, 3))
    for i in range(len(cams)):
        assert alpha[i].sum() > 20
        assert torch.dist(_alpha_centroid(alpha[i]), expected[i, 0]) < 0.5


@pytest.mark.parametrize("supersample, size_word, radius", [(2, "", 0.78), (4, "", 0.78), (2, "small", 0.6)])
def test_sphere_coverage_matches_the_projected_disk(supersample, size_word, radius):
    distance, fovy, size = 2.8, 42.5, 64
    sphere = simple_object("sphere", "red", size_word)
    alpha = render(sphere, make_cameras(15.0, 40.0, distance, fovy, size, size), supersample=supersample)[0, ..., 3]
    focal = size / (2 * math.tan(math.radians(fovy) / 2))
    disk = math.pi * (focal * math.tan(math.asin(radius / distance))) ** 2
    assert alpha.sum().item() == pytest.approx(disk, rel=0.02)
    levels = alpha * supersample**2
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # coverage counts sub-pixels
    assert alpha[size // 2, size // 2] == 1 and alpha[0, 0] == 0


def _orange_pixels(rgba):
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    return ((rgb - torch.tensor(COLORS["orange"])).abs().max(-1).values < 0.05) & (alpha > 0.5)


def test_snowman_nose_faces_the_front_camera_only():
    snowman = composite_object("snowman")
    cams = make_cameras([0.0] * 4, [0.0, 180.0, 90.0, -90.0], 2.8, 42.5, 64, 64)
    images = render(snowman, cams, "albedo")
    front, back, left_side, right_side = (_orange_pixels(img) for img in images)
    assert front.sum() >= 8 and back.sum() == 0
    u, v = _alpha_centroid(front.float())
    nose_base, _ = cams.project(torch.tensor([[[0.22, 0.0, 0.58]]]).expand(4, 1, 3))
    assert abs(u - 32) < 1.0 and abs(v - nose_base[0, 0, 1]) < 1.5
    # From +y (azimuth 90) the camera's right is -x, so the nose (+x) points left; from -y it points right.
    assert _alpha_centroid(left_side.float())[0] < 32 - 5
    assert _alpha_centroid(right_side.float())[0] > 32 + 5


def test_shading_uses_the_material_light_model():
    cube = simple_object("cube", "red")
    red = torch.tensor(COLORS["red"])
    head_on = make_cameras([0.0, 0.0], [0.0, 0.0], 2.8, 42.5, 16, 16, light_positions=[[2.8, 0, 0], [0, 3.0, 0]])
    lit = render(cube, head_on, "lambertian")[:, 8, 8, :3]
    assert torch.allclose(lit[0], red * (0.35 + 0.65), atol=1e-3)  # normal towards the light
    assert torch.allclose(lit[1], red * 0.35, atol=1e-3)  # light grazing from the side: ambient only
    albedo, textureless = render(cube, head_on, ["albedo", "textureless"])[:, 8, 8, :3]
    assert torch.allclose(albedo, red)
    assert torch.allclose(textureless, torch.full((3,), 0.35), atol=1e-3)  # white albedo, side light
    top = make_cameras([0.0, 89.0], [0.0, 0.0], 2.8, 42.5, 16, 16)
    front, above = render(cube, top, "normal")[:, 8, 8, :3]  # world normals as (n + 1) / 2, no light or albedo
    assert torch.allclose(front, torch.tensor([1.0, 0.5, 0.5]), atol=1e-3)  # the +x face
    assert torch.allclose(above, torch.tensor([0.5, 0.5, 1.0]), atol=1e-3)  # the +z face


def test_render_many_matches_rendering_each_object():
    cube, torus = simple_object("cube", "blue"), simple_object("torus", "pink")
    big_cube = simple_object("cube", "red", "large")
    cams = make_cameras([10.0, 20.0, 30.0, 40.0], [0.0, 100.0, 200.0, 300.0], 2.8, 42.5, 24, 24)
    images = render_many([cube, torus, cube, big_cube], cams)  # the two sizes of cube are traced together
    assert torch.allclose(images[1], render(torus, cams)[1])
    assert torch.allclose(images[[0, 2]], render(cube, cams)[[0, 2]])
    assert torch.allclose(images[3], render(big_cube, cams)[3], atol=1e-6)
    assert images[3, ..., 3].sum() > 1.3 * render(cube, cams)[3, ..., 3].sum()
    assert not torch.allclose(images[0], images[1])


def test_composite_over_background():
    rgba = torch.tensor([[[0.2, 0.4, 0.6, 1.0], [0.2, 0.4, 0.6, 0.0], [1.0, 0.0, 0.0, 0.25]]])
    out = composite(rgba, [1.0, 1.0, 1.0])
    assert torch.allclose(out, torch.tensor([[[0.2, 0.4, 0.6], [1.0, 1.0, 1.0], [1.0, 0.75, 0.75]]]))


def test_save_image_is_atomic_and_exact(tmp_path):
    image = torch.rand(8, 6, 4)
    path = tmp_path / "out" / "image.png"
    save_image(torch.zeros(8, 6, 4), path)
    save_image(image, path)  # overwrites in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["image.png"]
    with Image.open(path) as png:
        assert png.mode == "RGBA" and png.size == (6, 8)
        assert np.array_equal(np.asarray(png), (image * 255).round().to(torch.uint8).numpy())


def test_render_caption_to_png(tmp_path):
    path = render_caption_to_png("a red cube, side view", 15.0, 30.0, 2.8, 42.5, 32, tmp_path / "cube.png")
    with Image.open(path) as png:
        rgba = np.asarray(png)
    assert rgba.shape == (32, 32, 4) and rgba[16, 16, 3] == 255 and rgba[0, 0, 3] == 0
    assert rgba[16, 16, 0] > 3 * rgba[16, 16, 2]  # red
    with pytest.raises(ValueError, match="'teapot'"):
        render_caption_to_png("a red teapot", 15.0, 30.0, 2.8, 42.5, 32, tmp_path / "teapot.png")
    assert not (tmp_path / "teapot.png").exists()

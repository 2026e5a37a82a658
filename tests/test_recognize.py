"""Image-to-3D's text guidance: the picture warp, the alignment's cameras, and recognition with the shipped prior."""

import pytest
import torch
from test_image_to_3d import world_png

from threestudio_lite.config import CameraConfig, PriorConfig, load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.data.reference_image import load_reference_image
from threestudio_lite.evaluation.image_to_3d import result_similarity
from threestudio_lite.priors.loading import load_prior
from threestudio_lite.priors.recognize import Alignment, align, prior_offset, prior_shift, warp


def test_warp_puts_a_prior_point_at_scale_times_it_plus_shift():
    """A dot at normalized u in the warped image comes from scale * u + shift in the picture."""
    size = 64
    rgba = torch.zeros(4, size, size)
    rgba[:, 40:44, 20:24] = 1.0  # a white-on-transparent dot centred at pixel (x 22, y 42)
    rgba[:3] = 0.0  # black dot on transparent: shows up dark on the white composite
    u_picture = torch.tensor([(22 + 0.5 - size / 2) / (size / 2), (42 + 0.5 - size / 2) / (size / 2)])
    scale, shift = 1.25, (0.1, -0.2)
    out = warp(rgba, scale, shift, size)
    assert torch.allclose(warp(rgba, 1.0, (0.0, 0.0), size), 1.0 - rgba[3:].expand(3, -1, -1), atol=1e-5)
    dark = (1.0 - out[0]) > 0.5
    ys, xs = torch.nonzero(dark, as_tuple=True)
    u_out = torch.stack([(xs.float() + 0.5).mean(), (ys.float() + 0.5).mean()]) / (size / 2) - 1.0
    assert torch.allclose(scale * u_out + torch.tensor(shift), u_picture, atol=0.03)


def test_scene_cameras_see_the_scaled_and_offset_point_where_the_prior_cameras_see_the_original():
    cams = make_cameras(torch.tensor([10.0, 35.0]), torch.tensor([-40.0, 120.0]), 2.4, 42.5, 32, 32)
    alignment = Alignment("a table", 1.3, (0.1, -0.05, 0.2))
    points = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.4, -0.3]])
    scene_points = 1.3 * (points - torch.tensor(alignment.offset))
    placed = alignment.scene_cameras(cams)
    for i in range(len(cams)):
        uv, depth = cams[i:i + 1].project(points[None])
        uv_scene, depth_scene = placed[i:i + 1].project(scene_points[None])
        assert torch.allclose(uv, uv_scene, atol=1e-4) and torch.allclose(depth * 1.3, depth_scene, atol=1e-4)
        assert torch.allclose(placed.light_positions[i], 1.3 * (cams.light_positions[i] - torch.tensor(alignment.offset)))


def test_prior_shift_inverts_prior_offset():
    cam = make_cameras(20.0, -70.0, 2.4, 42.5, 32, 32)
    for scale, shift in ((0.9, (0.2, 0.05)), (1.3, (-0.1, -0.25))):
        assert torch.allclose(torch.tensor(prior_shift(cam, scale, prior_offset(cam, scale, shift))),
                              torch.tensor(shift), atol=1e-5)


def test_prior_offset_inverts_the_image_offset_of_the_origin():
    """The prior's origin maps to the scene point -scale * offset, which the camera sees at ``shift``."""
    cam = make_cameras(15.0, 30.0, 2.4, 42.5, 64, 64)
    scale, shift = 1.2, (0.15, -0.1)
    origin_in_scene = -scale * torch.tensor(prior_offset(cam, scale, shift))
    uv, _ = cam.project(origin_in_scene[None, None])
    assert torch.allclose(uv[0, 0] / 32.0 - 1.0, torch.tensor(shift), atol=1e-4)


@pytest.fixture(scope="module")
def text_prior():
    return load_prior(PriorConfig(), "", CameraConfig(), torch.device("cpu"))


def test_alignment_recovers_size_and_origin_of_an_off_centre_object(tmp_path, text_prior):
    """Placement "search" (the camera's distance not trusted): the table's origin is far from its bounding box's
    centre; the search finds both the magnification the preprocessing applied and where the origin went (the
    eval's similarity, computed from the preprocessing)."""
    world_png(tmp_path / "table.png", "a table", 15.0, 0.0, size=256)
    config = load_config("zero123", [f"image.path={tmp_path / 'table.png'}", "image.elevation=15"])
    ref = load_reference_image(config.image)
    k, delta = result_similarity(config, {"magnification": ref.magnification(), "center": list(ref.center),
                                          "input_size": list(ref.input_size)})
    assert delta.norm() > 0.15  # the origin is well off the recentred frame's centre
    camera = make_cameras(15.0, 0.0, 2.4, 42.5, 32, 32)
    candidates = ["a table", "a mug with a red handle", "a red cube", "a house with a red door", "a lollipop"]
    found = align(text_prior, ref.rgba().permute(2, 0, 1), camera, candidates, torch.Generator().manual_seed(0))
    assert found.caption == "a table"
    assert abs(found.scale - k) < 0.08, (found.scale, k)
    assert (torch.tensor(found.offset) - delta).norm() < 0.06, (found.offset, delta)


@pytest.mark.parametrize("caption, elevation, azimuth", [("a red cube", 0.0, 0.0), ("a table", 15.0, 0.0)])
def test_preset_recognises_the_pictured_object_among_all_captions(tmp_path, text_prior, caption, elevation, azimuth):
    """The zero123 preset's prompt "auto": the picture, placed by its camera (the recentring undone), names the
    object among all the embedded prior's captions — the size word too ("a red cube", not "a large red cube"),
    and the table although its origin is far from its bounding box's centre."""
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    world_png(tmp_path / "in.png", caption, elevation, azimuth, size=256)
    config = load_config("zero123", [f"image.path={tmp_path / 'in.png'}", f"image.elevation={elevation}",
                                     f"image.azimuth={azimuth}"])
    assert config.prompt == "auto" and config.image.text_prior_placement == "camera"
    ref = load_reference_image(config.image)
    system = ImageTo3D(config, prior=None, reference=ref, text_prior=text_prior)
    found = system.align_text_prior()
    k, delta = ref.camera_similarity(config.image)
    assert found.caption == caption
    assert found.scale == k and torch.allclose(torch.tensor(found.offset), delta, atol=1e-6)

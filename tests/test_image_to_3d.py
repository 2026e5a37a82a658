"""Image-to-3D: input handling, the reference camera's convention, the eval's alignment, a short run."""

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from test_runs import TINY, cli

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.data.reference_image import ImageConfig, load_reference_image
from threestudio_lite.evaluation.image_to_3d import result_similarity
from threestudio_lite.systems.distillation import build_scene
from threestudio_lite.world.captions import object_from_caption
from threestudio_lite.world.metrics import mask_iou
from threestudio_lite.world.render import composite, render


def world_png(path, caption="a purple pyramid", elevation=15.0, azimuth=40.0, size=96, alpha=True):
    """A world render saved as RGBA (or RGB on a grey background); returns the RGBA array in [0, 1]."""
    rgba = render(object_from_caption(caption), make_cameras(elevation, azimuth, 2.4, 42.5, size, size))[0]
    image = rgba if alpha else composite(rgba[None], (0.5, 0.5, 0.5))[0]
    iio.imwrite(path, (image.clamp(0, 1).numpy() * 255).round().astype(np.uint8))
    return rgba.numpy()


def bbox(mask):
    ys, xs = np.nonzero(np.asarray(mask) > 0.5)
    return xs.min(), xs.max() + 1, ys.min(), ys.max() + 1


def test_recentred_and_rescaled_to_the_foreground_ratio(tmp_path):
    world_png(tmp_path / "in.png")
    ref = load_reference_image(ImageConfig(path=str(tmp_path / "in.png"), size=128, foreground_ratio=0.8))
    x0, x1, y0, y1 = bbox(ref.mask)
    assert abs(max(x1 - x0, y1 - y0) - 0.8 * 128) <= 2
    assert abs((x0 + x1) / 2 - 64) <= 1.5 and abs((y0 + y1) / 2 - 64) <= 1.5
    # Outside the mask the colour is white; inside it is the object's purple.
    assert ref.rgb[:, ref.mask < 0.01].min() > 0.99
    inside = ref.rgb[:, ref.mask > 0.99].mean(1)
    assert inside[2] > inside[1] + 0.2


def test_border_estimate_recovers_the_mask_without_alpha(tmp_path):
    truth = world_png(tmp_path / "rgb.png", alpha=False)
    world_png(tmp_path / "rgba.png", alpha=True)
    estimated = load_reference_image(ImageConfig(path=str(tmp_path / "rgb.png")))
    from_alpha = load_reference_image(ImageConfig(path=str(tmp_path / "rgba.png")))
    assert truth.shape[-1] == 4
    assert mask_iou(estimated.mask, from_alpha.mask) > 0.95


def test_mask_file_overrides_alpha(tmp_path):
    world_png(tmp_path / "in.png", alpha=False)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:50, 20:60] = 255
    iio.imwrite(tmp_path / "mask.png", mask)
    ref = load_reference_image(ImageConfig(path=str(tmp_path / "in.png"), mask=str(tmp_path / "mask.png"), size=64))
    x0, x1, y0, y1 = bbox(ref.mask)
    assert abs((x1 - x0) - 0.8 * 64) <= 2 and abs((y1 - y0) - 0.4 * 64) <= 2


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.png", "does not exist"),
    (lambda d: (d / "text.png").write_text("not a picture") and d / "text.png", "cannot read"),
    (lambda d: d, "is not a file"),
    (lambda d: iio.imwrite(d / "empty.png", np.zeros((16, 16, 4), np.uint8)) or d / "empty.png", "mask is empty"),
])
def test_bad_image_is_one_line_and_exit_2(tmp_path, make, message):
    path = make(tmp_path)
    proc = cli("image-to-3d", path, "--out", tmp_path / "run", check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()


def truth_scene_in_result_frame(caption, k, delta):
    """A NeRF whose density is the truth object's, placed where the result of a recentred input lives."""
    config = load_config("zero123")
    scene = build_scene(config.stages[0])
    obj = object_from_caption(caption)
    scene.geometry.set_log_density(lambda p: -4.0 + 12.0 * torch.sigmoid(-obj.sdf(p / k + delta) / 0.01))
    return scene


def test_reference_camera_and_eval_alignment_agree_with_the_preprocessing(tmp_path):
    """The truth object mapped into the result frame (by the eval's similarity) and rendered from the
    system's reference camera covers the preprocessed input's mask: cameras, recentring and alignment
    use one convention. A mirrored convention would fail on this view with the handle to one side."""
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    caption, elevation, azimuth = "a mug with a red handle", 15.0, -60.0
    world_png(tmp_path / "in.png", caption, elevation, azimuth, size=128)
    config = load_config("zero123", [f"image.path={tmp_path / 'in.png'}", f"image.elevation={elevation}",
                                     f"image.azimuth={azimuth}", "image.foreground_ratio=0.6"])
    system = ImageTo3D(config, prior=None, reference=load_reference_image(config.image))
    k, delta = result_similarity(config, {"magnification": system.image.magnification(),
                                          "center": list(system.image.center),
                                          "input_size": list(system.image.input_size)})
    assert k < 0.95 and delta.norm() > 0.01  # shrunk and shifted: the similarity is not the identity
    with torch.no_grad():
        out = truth_scene_in_result_frame(caption, k, delta).render(system.reference_camera(64), ["lambertian"], 1.0)
    _, target_mask = system.reference_targets(64)
    opacity = out["opacity"][0, ..., 0]
    assert mask_iou(opacity, target_mask[..., 0]) > 0.85
    assert mask_iou(opacity, torch.flip(target_mask[..., 0], dims=[1])) < 0.7  # the handle is on one side


@pytest.mark.parametrize("caption, elevation, azimuth, max_l1", [
    ("a red cube", 0.0, 0.0, 10.0),  # magnified 1.35x, no shift: the unmoved camera's mask is off by 529 pixels
    ("a table", 15.0, 0.0, 100.0),  # shifted 0.19 down: the crop taken as a turn; unmoved camera 168
])
def test_reference_camera_sees_the_truth_where_the_preprocessed_input_shows_it(tmp_path, caption, elevation, azimuth,
                                                                               max_l1):
    """Recentring zooms the picture (a focal length change), which no similarity of the scene undoes at every
    depth: the reference camera is the picture's camera moved into the recentred frame and zoomed alike, so the
    truth seen through it (mapped back to the truth's frame) covers the preprocessed mask, near and far faces."""
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    world_png(tmp_path / "in.png", caption, elevation, azimuth, size=256)
    config = load_config("zero123", [f"image.path={tmp_path / 'in.png'}", f"image.elevation={elevation}",
                                     f"image.azimuth={azimuth}"])
    system = ImageTo3D(config, prior=None, reference=load_reference_image(config.image))
    k, delta = system.image.camera_similarity(config.image)
    in_truth_frame = system.reference_camera(64).in_similar_frame(1.0 / k, -k * delta)
    alpha = render(object_from_caption(caption), in_truth_frame)[0, ..., 3]
    assert float((alpha - system.reference_targets(64)[1][..., 0]).abs().sum()) < max_l1


@pytest.mark.parametrize("start", ["picture", "gray"])
def test_albedo_starts_at_the_pictures_object_colour(tmp_path, start):
    """Before any step the field's albedo is the red cube's mean colour in the picture everywhere (so sides the
    picture does not show start red), or the colour head's neutral gray with ``image.albedo_start=gray``."""
    from threestudio_lite.systems.image_to_3d import ImageTo3D

    world_png(tmp_path / "in.png", "a red cube", 20.0, 30.0)
    config = load_config("zero123", [f"image.path={tmp_path / 'in.png'}", f"image.albedo_start={start}"])
    system = ImageTo3D(config, prior=None, reference=load_reference_image(config.image))
    torch.manual_seed(0)  # the colour head's random initial weights
    scene = system.build_scene(0, None)
    points = torch.rand(512, 3, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    with torch.no_grad():
        albedo = scene.field(1.0).albedo(points)
    # Within what the random weights add (at most ~0.05 from the start colour over seeds 0-3).
    expected = system.image.mean_object_color() if start == "picture" else torch.full((3,), 0.5)
    assert float((albedo.mean(0) - expected).abs().max()) < 0.07, (albedo.mean(0), expected)
    if start == "picture":
        assert expected[0] > 0.5 > expected[1] + 0.2  # red, not gray


def test_short_image_to_3d_eval_on_one_case(tmp_path):
    world_png(tmp_path / "cube.png", "a red cube", 0.0, 30.0, size=128)
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"image": "cube.png", "truth": "a red cube", "elevation": 0, "azimuth": 30,
                                 "prompt": "a red cube"}) + "\n")
    overrides = [o for o in TINY if not o.startswith("export.isosurface")] + [
        "stages.0.steps=60", "stages.0.reference_resolution=32", "export.isosurface_density=1.0"]
    proc = cli("eval", "image-to-3d", "--cases", cases, "--out", tmp_path / "eval", *overrides, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    (case,) = report["cases"]
    assert case["error"] is None, case["error"]
    for key in ("iou", "chamfer", "color_error", "psnr", "mask_iou", "ref_psnr", "seconds", "peak_rss_mb"):
        assert case[key] is not None and math.isfinite(case[key]), key
    # 60 steps already fit the reference view and give a cube-like blob around the right place.
    assert case["ref_psnr"] > 18.0 and case["mask_iou"] > 0.5 and case["iou"] > 0.4, case
    assert (tmp_path / "eval" / "eval.png").is_file()
    (run_dir,) = (tmp_path / "eval" / "runs").iterdir()
    assert (run_dir / "reference.png").is_file()
    # The case's prompt reaches the run: the text prior guides with it, placed by the picture's camera (at the
    # magnification the preprocessing applied).
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["text_prior"]["caption"] == "a red cube"
    assert abs(metrics["text_prior"]["scale"] - metrics["reference"]["magnification"]) < 1e-3, metrics

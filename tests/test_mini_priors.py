"""The mini priors: training reduces the loss and writes a loadable diffusers-format folder; the shipped
text prior loads through the run's prior loader and draws recognisable samples."""

import json

import pytest
import torch

from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.priors.mini.tokenizer import WordTokenizer
from threestudio_lite.priors.mini.train import TrainPriorConfig, train_prior


def tiny_config(**kw):
    base = dict(steps=40, batch_size=16, groups=24, views_per_group=4, sample_every=1000, checkpoint_every=20,
                channels=(16, 32, 32), text_width=32, lr=2e-3, warmup=5)
    base.update(kw)
    return TrainPriorConfig(**base)


def test_text_prior_training_lowers_the_loss_and_saves_a_loadable_prior(tmp_path):
    from threestudio_lite.priors.mini.text_prior import MiniTextPrior
    from threestudio_lite.priors.mini.text_recipe import TextRecipe

    config = tiny_config()
    summary = train_prior(TextRecipe(config), config, tmp_path / "text", progress=False)
    import torch as _t

    history = _t.load(tmp_path / "text" / "training" / "checkpoint.pt", weights_only=True)["history"]
    assert sum(history[-10:]) / 10 < 0.6 * sum(history[:5]) / 5, history
    assert (tmp_path / "text" / "training" / "loss.png").is_file()
    assert summary["steps"] == 40
    prior = MiniTextPrior.from_pretrained(tmp_path / "text")
    cams = make_cameras([10.0, 30.0], [0.0, 90.0], 2.4, 42.5, 32, 32)
    cond = prior.condition("a red cube", cams)
    eps = prior.predict_noise(torch.zeros(2, 3, 32, 32), torch.tensor([10, 900]), cond, 3.0)
    assert eps.shape == (2, 3, 32, 32) and torch.isfinite(eps).all()
    # Loaded channels-last (faster oneDNN convolutions), it predicts what the saved layout predicts.
    assert prior.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    x, t, labels = torch.randn(2, prior.unet.config.in_channels, 32, 32), torch.tensor([10, 900]), cond.cond
    tokens = torch.zeros(2, 1, prior.unet.config.cross_attention_dim)
    fast = prior.unet(x.contiguous(memory_format=torch.channels_last), t, tokens, class_labels=labels).sample
    prior.unet.to(memory_format=torch.contiguous_format)
    assert torch.allclose(prior.unet(x, t, tokens, class_labels=labels).sample, fast, atol=1e-5)


def test_training_views_stay_in_the_configured_elevations_and_the_config_is_saved(tmp_path):
    from threestudio_lite.priors.mini.data import render_world_images
    from threestudio_lite.priors.mini.text_recipe import TextRecipe
    from threestudio_lite.priors.mini.train import training_cameras

    config = tiny_config(steps=1, elevation_range=(50.0, 70.0))
    elevation = render_world_images(16, 8, 16, training_cameras(config), 0, progress=False).cameras[:, 0]
    assert elevation.min() >= 50.0 and elevation.max() <= 70.0 and elevation.max() - elevation.min() > 15.0
    train_prior(TextRecipe(config), config, tmp_path / "p", progress=False)
    saved = json.loads((tmp_path / "p" / "training" / "config.json").read_text())
    assert saved["elevation_range"] == [50.0, 70.0] and saved["steps"] == 1


def test_text_prior_training_resumes_from_its_checkpoint(tmp_path):
    from threestudio_lite.priors.mini.text_recipe import TextRecipe

    config = tiny_config(steps=6, checkpoint_every=3)
    train_prior(TextRecipe(config), config, tmp_path / "a", progress=False)
    straight = torch.load(tmp_path / "a" / "training" / "checkpoint.pt", weights_only=True)
    short = tiny_config(steps=3, checkpoint_every=3)
    train_prior(TextRecipe(short), short, tmp_path / "b", progress=False)
    train_prior(TextRecipe(config), config, tmp_path / "b", resume=True, progress=False)
    resumed = torch.load(tmp_path / "b" / "training" / "checkpoint.pt", weights_only=True)
    assert resumed["step"] == 6
    for key, value in straight["ema"].items():
        torch.testing.assert_close(resumed["ema"][key], value, msg=key)


def test_ray_map_decodes_the_camera_features_into_each_pixels_ray():
    from threestudio_lite.priors.mini.camera import CAMERA_FEATURES, camera_features, ray_map

    cams = make_cameras([10.0, -5.0, 40.0], [0.0, 95.0, -150.0], [2.3, 2.4, 2.55], [41.0, 42.5, 44.0], 16, 16)
    features = camera_features(cams.elevation, cams.azimuth, cams.distance, cams.fovy)
    maps = ray_map(torch.cat([features, torch.zeros(1, CAMERA_FEATURES)]), 16)
    origins, dirs = cams.rays()
    torch.testing.assert_close(maps[:3, :3].permute(0, 2, 3, 1), dirs, atol=1e-5, rtol=0)
    closest = maps[:3, 3:].permute(0, 2, 3, 1)
    assert (closest * dirs).sum(-1).abs().max() < 1e-5  # perpendicular to its ray ...
    assert torch.linalg.cross(closest - origins, dirs, dim=-1).norm(dim=-1).max() < 1e-5  # ... and on it
    assert maps[3].abs().max() == 0  # no camera, no ray map


def test_detail_masks_mark_a_composites_later_parts_and_nothing_else():
    from threestudio_lite.priors.mini.data import detail_masks
    from threestudio_lite.world.objects import composite_object, simple_object
    from threestudio_lite.world.render import render_many

    objects = [composite_object("snowman"), composite_object("mug"), simple_object("cube", "red")]
    cams = make_cameras(15.0, [0.0, 90.0, 0.0], 2.4, 42.5, 32, 32)
    masks = detail_masks(objects, cams, render_many(objects, cams))
    nose, handle = masks[0], masks[1]
    assert 8 <= nose.sum() <= 20 and nose[:8, 13:19].sum() == nose.sum()  # facing the camera, on the head
    assert handle.sum() >= 30 and handle[:, :9].sum() == handle.sum()  # camera at +y: the +x handle shows left
    assert masks[2].sum() == 0


def test_fine_tuning_starts_from_a_saved_prior_and_its_new_ray_map_channels_start_at_zero(tmp_path):
    from threestudio_lite.priors.mini.models import mini_unet
    from threestudio_lite.priors.mini.text_prior import MiniTextPrior
    from threestudio_lite.priors.mini.text_recipe import TextRecipe
    from threestudio_lite.priors.mini.train import load_initial_weights

    config = tiny_config()
    older = TextRecipe(config)  # an older prior: the same text encoder, a UNet without ray-map inputs
    with torch.random.fork_rng():
        torch.manual_seed(3)
        older.modules["unet"] = mini_unet(config.text_width + 7, channels=config.channels)
    older.prior(older.modules).save_pretrained(tmp_path / "old")
    fresh = TextRecipe(tiny_config(seed=1))
    assert fresh.modules["unet"].config.in_channels == 9
    load_initial_weights(fresh.modules, tmp_path / "old")
    assert fresh.modules["unet"].conv_in.weight[:, 3:].abs().max() == 0
    old, new = MiniTextPrior.from_pretrained(tmp_path / "old"), fresh.prior(fresh.modules)
    cams = make_cameras([10.0, 30.0], [0.0, 90.0], 2.4, 42.5, 32, 32)
    x_t, t = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([100, 700])
    with torch.no_grad():
        torch.testing.assert_close(new.predict_noise(x_t, t, new.condition("a red cube", cams), 3.0),
                                   old.predict_noise(x_t, t, old.condition("a red cube", cams), 3.0))


def test_view_prior_training_saves_a_loadable_prior(tmp_path):
    from threestudio_lite.priors.mini.view_prior import MiniViewPrior, Reference
    from threestudio_lite.priors.mini.view_recipe import ViewRecipe

    config = tiny_config(steps=20)
    train_prior(ViewRecipe(config), config, tmp_path / "view", progress=False)
    history = torch.load(tmp_path / "view" / "training" / "checkpoint.pt", weights_only=True)["history"]
    assert sum(history[-5:]) / 5 < sum(history[:5]) / 5
    prior = MiniViewPrior.from_pretrained(tmp_path / "view")
    reference = Reference(torch.ones(3, 32, 32), 0.0, 0.0, 2.4, 42.5)
    cams = make_cameras(15.0, [60.0, 200.0], 2.4, 42.5, 32, 32)
    eps = prior.predict_noise(torch.zeros(2, 3, 32, 32), torch.tensor([10, 900]), prior.condition(reference, cams), 3.0)
    assert eps.shape == (2, 3, 32, 32) and torch.isfinite(eps).all()


def test_tokenizer_maps_paraphrases_and_reports_unknown_words():
    from threestudio_lite.priors.mini.text_recipe import build_tokenizer

    tok = build_tokenizer()
    assert tok.ids("a crimson box") == tok.ids("a red box")
    assert tok.unknown_words("a vermilion cube floating in space") == ["vermilion", "floating", "in", "space"]
    ids, mask = tok(["a red cube, side view", ""])
    assert mask[0].sum() == 5 and mask[1].sum() == 1  # '' is the single <empty> token
    tmp = WordTokenizer.from_texts(["a b"])
    assert tmp.vocab[:2] == ["<pad>", "<empty>"]


@pytest.mark.parametrize("shipped", ["", "text-near-light"])
def test_the_shipped_text_priors_load_through_the_run_loader_and_draw_the_captioned_objects(shipped):
    from threestudio_lite.config import PriorConfig
    from threestudio_lite.data.cameras import CameraConfig
    from threestudio_lite.priors.loading import has_shipped_prior, load_prior
    from threestudio_lite.priors.mini.quality import check_text_prior
    from threestudio_lite.priors.mini.text_prior import MiniTextPrior
    from threestudio_lite.world.captions import object_from_caption

    assert has_shipped_prior(shipped or "text")
    prior = load_prior(PriorConfig(kind="auto", shipped=shipped), "a red cube", CameraConfig(), torch.device("cpu"))
    assert isinstance(prior, MiniTextPrior)
    assert f"({shipped or 'text'}," in prior.description, prior.description
    captions = ["a red cube", "a blue sphere", "a green torus"]
    decoys = ["a blue cube", "a red sphere", "a green cone", "a yellow torus"]
    report, _ = check_text_prior(prior, captions, candidates=[object_from_caption(c) for c in captions + decoys])
    assert report["recognised"] == 3, report
    assert min(c["mask_iou"] for c in report["cases"]) > 0.6, report


def test_a_misspelt_shipped_prior_is_an_error_not_a_fallback():
    from threestudio_lite.config import PriorConfig
    from threestudio_lite.data.cameras import CameraConfig
    from threestudio_lite.priors.loading import PriorUnavailable, load_prior

    with pytest.raises(PriorUnavailable, match="text-near-lite"):
        load_prior(PriorConfig(kind="auto", shipped="text-near-lite"), "a red cube", CameraConfig(), torch.device("cpu"))


def test_the_shipped_view_prior_draws_new_views_of_the_reference_object():
    from threestudio_lite.priors.loading import has_shipped_prior, shipped_prior_dir
    from threestudio_lite.priors.mini.quality import check_view_prior
    from threestudio_lite.priors.mini.view_prior import MiniViewPrior

    assert has_shipped_prior("view")
    prior = MiniViewPrior.from_pretrained(shipped_prior_dir("view"))
    report, _ = check_view_prior(prior, ["a blue sphere", "a tall purple cylinder"], azimuths=(90.0, 180.0))
    assert report["mean_mask_iou"] > 0.7, report
    assert report["mean_psnr"] > 14.0, report

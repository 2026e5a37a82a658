"""The mini priors: training reduces the loss and writes a loadable diffusers-format folder; the shipped
text prior loads through the run's prior loader and draws recognisable samples."""

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


def test_the_shipped_text_prior_loads_through_the_run_loader_and_draws_the_captioned_objects():
    from threestudio_lite.config import PriorConfig
    from threestudio_lite.data.cameras import CameraConfig
    from threestudio_lite.priors.loading import has_shipped_prior, load_prior
    from threestudio_lite.priors.mini.quality import check_text_prior
    from threestudio_lite.priors.mini.text_prior import MiniTextPrior
    from threestudio_lite.world.captions import object_from_caption

    assert has_shipped_prior("text")
    prior = load_prior(PriorConfig(kind="auto"), "a red cube", CameraConfig(), torch.device("cpu"))
    assert isinstance(prior, MiniTextPrior)
    captions = ["a red cube", "a blue sphere", "a green torus"]
    decoys = ["a blue cube", "a red sphere", "a green cone", "a yellow torus"]
    report, _ = check_text_prior(prior, captions, candidates=[object_from_caption(c) for c in captions + decoys])
    assert report["recognised"] == 3, report
    assert min(c["mask_iou"] for c in report["cases"]) > 0.6, report


def test_the_shipped_view_prior_draws_new_views_of_the_reference_object():
    from threestudio_lite.priors.loading import has_shipped_prior, shipped_prior_dir
    from threestudio_lite.priors.mini.quality import check_view_prior
    from threestudio_lite.priors.mini.view_prior import MiniViewPrior

    assert has_shipped_prior("view")
    prior = MiniViewPrior.from_pretrained(shipped_prior_dir("view"))
    report, _ = check_view_prior(prior, ["a blue sphere", "a tall purple cylinder"], azimuths=(90.0, 180.0))
    assert report["mean_mask_iou"] > 0.7, report
    assert report["mean_psnr"] > 14.0, report

"""Compare mini priors by how well they denoise renders they never saw: the one-step x0 error on fresh world data.

    python benchmarks/prior_validation_error.py {text,view} PRIOR_FOLDER [PRIOR_FOLDER ...] [--cases CASES.jsonl]

The truth objects of CASES (default: the image-to-3D public cases) are rendered as the training data is (8 random
views each from the optimizer's camera sampler and light model, world seed 7, which no shipped prior trained on),
noised at t = 100 / 300 / 500 / 700 with one fixed draw of noise, and each prior's x0 estimate is scored by its
mean squared error in [-1, 1] units: conditioned on the caption (text) or on another view of the same object and
the relative camera (view). The same noise for every prior, so a difference is the priors'. About a minute each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from threestudio_lite.data.cameras import CameraConfig, make_cameras
from threestudio_lite.priors.base import noised, one_step_x0
from threestudio_lite.priors.mini.camera import relative_camera_features
from threestudio_lite.priors.mini.data import WorldImages, render_world_images
from threestudio_lite.priors.mini.text_prior import MiniTextPrior
from threestudio_lite.priors.mini.train import noise_scheduler
from threestudio_lite.priors.mini.view_prior import MiniViewPrior, ViewCondition
from threestudio_lite.world.captions import object_from_caption

TIMESTEPS = (100, 300, 500, 700)
WORLD_SEED, NOISE_SEED, VIEWS = 7, 3, 8


def text_noise_predictor(prior: MiniTextPrior, data: WorldImages, captions: list[str]):
    """ε(x_t, t) of the text prior given each image's caption and camera (no guidance)."""
    c = data.cameras
    cameras = make_cameras(c[:, 0], c[:, 1], c[:, 2], c[:, 3], 32, 32)
    embeddings = torch.cat([prior.embed_texts([captions[i] for i in data.object_index.tolist()]),
                            prior.camera_condition(cameras)], -1)
    return lambda x_t, t: prior.unguided_eps(x_t, t, embeddings)


def view_noise_predictor(prior: MiniViewPrior, data: WorldImages, references: torch.Tensor):
    """ε(x_t, t) of the view prior given another view of the same object and the relative camera (no guidance)."""
    features = relative_camera_features(data.cameras[references], data.cameras, prior.camera_reference)
    condition = ViewCondition(data.float_images(references) * 2.0 - 1.0, features, torch.zeros_like(features))
    return lambda x_t, t: prior.predict_noise(x_t, t, condition, guidance_scale=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("text", "view"))
    parser.add_argument("priors", nargs="+")
    parser.add_argument("--cases", default=str(Path(__file__).parent / "image_to_3d_cases.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    captions = list(dict.fromkeys(json.loads(line)["truth"] for line in open(args.cases) if line.strip()))
    data = render_world_images(len(captions) * VIEWS, VIEWS, 32, CameraConfig(), WORLD_SEED, False,
                               objects=[object_from_caption(c) for c in captions])
    generator = torch.Generator().manual_seed(NOISE_SEED)
    n = len(data)
    index = torch.arange(n)
    references = index - index % VIEWS + (index % VIEWS + 1 + torch.randint(VIEWS - 1, (n,), generator=generator)) % VIEWS
    x0 = data.float_images(index) * 2.0 - 1.0
    noise = torch.randn((len(TIMESTEPS), *x0.shape), generator=generator)
    a_bar = noise_scheduler().alphas_cumprod.float()
    for folder in args.priors:
        errors = torch.zeros(len(TIMESTEPS), n)
        with torch.no_grad():
            if args.kind == "text":
                predict_noise = text_noise_predictor(MiniTextPrior.from_pretrained(folder), data, captions)
            else:
                predict_noise = view_noise_predictor(MiniViewPrior.from_pretrained(folder), data, references)
            for k, t in enumerate(TIMESTEPS):
                a = a_bar[t]
                x_t = noised(a, x0, noise[k])
                eps = predict_noise(x_t, torch.full((n,), t))
                errors[k] = ((one_step_x0(a, x_t, eps) - x0) ** 2).mean((1, 2, 3))
        per_object = {captions[o]: round(errors[:, data.object_index == o].mean().item(), 4)
                      for o in range(len(captions)) if (data.object_index == o).any()}
        print(f"{folder}: x0 MSE {errors.mean().item():.4f} (t = {', '.join(map(str, TIMESTEPS))}: "
              f"{', '.join(f'{e:.4f}' for e in errors.mean(1).tolist())})")
        print("  " + ", ".join(f"{c} {e}" for c, e in per_object.items()))


if __name__ == "__main__":
    main()

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
from threestudio_lite.priors.mini.camera import relative_camera_features
from threestudio_lite.priors.mini.data import WorldImages, render_world_images
from threestudio_lite.priors.mini.text_prior import MiniTextPrior
from threestudio_lite.priors.mini.train import noise_scheduler
from threestudio_lite.priors.mini.view_prior import MiniViewPrior
from threestudio_lite.world.captions import object_from_caption

TIMESTEPS = (100, 300, 500, 700)
WORLD_SEED, NOISE_SEED, VIEWS = 7, 3, 8


def text_x0(prior: MiniTextPrior, data: WorldImages, captions: list[str], x_t, t: int) -> torch.Tensor:
    """x0 estimates of the text prior given each image's caption and camera (no guidance)."""
    c = data.cameras
    cameras = make_cameras(c[:, 0], c[:, 1], c[:, 2], c[:, 3], x_t.shape[-1], x_t.shape[-1])
    embeddings = torch.cat([prior.embed_texts([captions[i]]) for i in data.object_index.tolist()])
    embeddings = torch.cat([embeddings, prior.camera_condition(cameras)], -1)
    a = prior.alphas_cumprod[t].float()
    eps = prior.unguided_eps(x_t, torch.full((len(x_t),), t), embeddings)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def view_x0(prior: MiniViewPrior, data: WorldImages, references: torch.Tensor, x_t, t: int) -> torch.Tensor:
    """x0 estimates of the view prior given another view of the same object and the relative camera."""
    features = relative_camera_features(data.cameras[references], data.cameras, prior.camera_reference)
    reference = data.float_images(references) * 2.0 - 1.0
    tokens = features.new_zeros(len(features), 1, prior.unet.config.cross_attention_dim)
    a = prior.alphas_cumprod[t].float()
    v = prior.unet(torch.cat([x_t, reference], 1), torch.full((len(x_t),), t), encoder_hidden_states=tokens,
                   class_labels=features).sample
    return a.sqrt() * x_t - (1 - a).sqrt() * v


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
        prior = (MiniTextPrior if args.kind == "text" else MiniViewPrior).from_pretrained(folder)
        errors = torch.zeros(len(TIMESTEPS), n)
        with torch.no_grad():
            for k, t in enumerate(TIMESTEPS):
                x_t = a_bar[t].sqrt() * x0 + (1 - a_bar[t]).sqrt() * noise[k]
                estimate = (text_x0(prior, data, captions, x_t, t) if args.kind == "text" else
                            view_x0(prior, data, references, x_t, t))
                errors[k] = ((estimate - x0) ** 2).mean((1, 2, 3))
        per_object = {captions[o]: round(errors[:, data.object_index == o].mean().item(), 4)
                      for o in range(len(captions)) if (data.object_index == o).any()}
        print(f"{folder}: x0 MSE {errors.mean().item():.4f} (t = {', '.join(map(str, TIMESTEPS))}: "
              f"{', '.join(f'{e:.4f}' for e in errors.mean(1).tolist())})")
        print("  " + ", ".join(f"{c} {e}" for c, e in per_object.items()))


if __name__ == "__main__":
    main()

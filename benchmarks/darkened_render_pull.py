"""Does a text prior pull a darkened object back to its colour? The one-step x0 brightness of a dimmed truth render.

    python benchmarks/darkened_render_pull.py PRIOR_FOLDER [PRIOR_FOLDER ...] [--caption C] [--dark 0.6]

The caption's truth object is rendered on white from 8 headlit cameras (elevations 0 and 30°, azimuths 22.5° +
45° i), its pixels dimmed to ``--dark`` times their colour, noised at t = 200 / 400 / 600 / 800 with one fixed
draw of noise, and each prior's guided x0 estimate is averaged over the object's pixels. A prior that knows the
object's colour moves the mean towards the undimmed one; one that keeps the dimmed mean leaves SDS a gray resting
point (README, "The priors' fit"). Seconds per prior."""

from __future__ import annotations

import argparse

import torch

from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.priors.base import noised, one_step_x0
from threestudio_lite.priors.mini.text_prior import MiniTextPrior
from threestudio_lite.world.captions import object_from_caption
from threestudio_lite.world.render import composite, render

TIMESTEPS = (200, 400, 600, 800)
NOISE_SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("priors", nargs="+")
    parser.add_argument("--caption", default="a mug with a red handle")
    parser.add_argument("--dark", type=float, default=0.6, help="factor on the object's pixels (default 0.6)")
    parser.add_argument("--guidance", type=float, default=3.0, help="guidance scale (default 3, the presets')")
    args = parser.parse_args()
    torch.set_num_threads(2)
    cameras = make_cameras(torch.tensor([0.0, 30.0] * 4), 22.5 + 45.0 * torch.arange(8.0), 2.4, 42.5, 32, 32)
    rgba = render(object_from_caption(args.caption), cameras)
    on_object = (rgba[..., 3] > 0.5).unsqueeze(1)  # (V, 1, S, S)
    image = composite(rgba, (1.0, 1.0, 1.0)).permute(0, 3, 1, 2)
    image = torch.where(on_object, image * args.dark, image)

    def object_mean(images: torch.Tensor) -> float:
        return ((images * on_object).sum() / (3 * on_object.sum())).item()

    x0 = image * 2.0 - 1.0
    noise = torch.randn((len(TIMESTEPS), *x0.shape), generator=torch.Generator().manual_seed(NOISE_SEED))
    print(f"{args.caption}, dimmed to {args.dark}x: mean {object_mean(image):.3f} on the object")
    for folder in args.priors:
        prior = MiniTextPrior.from_pretrained(folder)
        condition = prior.condition(args.caption, cameras)
        means = []
        with torch.no_grad():
            for k, t in enumerate(TIMESTEPS):
                a = prior.alphas_cumprod[t]
                x_t = noised(a, x0, noise[k])
                eps = prior.predict_noise(x_t, torch.full((len(cameras),), t), condition, args.guidance)
                estimate = one_step_x0(a, x_t, eps).clamp(-1.0, 1.0) * 0.5 + 0.5
                means.append(object_mean(estimate))
        print(f"{folder}: x0 mean on the object at t = {', '.join(map(str, TIMESTEPS))}: "
              f"{', '.join(f'{m:.3f}' for m in means)}")


if __name__ == "__main__":
    main()

"""Does a text prior see the mug's hollow? The signal SDS needs to carve the cup, measured two ways.

    python benchmarks/mug_hollow_signal.py [PRIOR_FOLDER [SHADING]]   # default: the shipped text prior, lambertian
    python benchmarks/mug_hollow_signal.py threestudio_lite/assets/priors/normal normal   # the normal prior

For renders of the hollow mug and of a filled one (same cameras, lights drawn by the optimizer's sampler):
1. "pull": the prior's one-step x0 of the *filled* render at timestep t, projected on (hollow - filled) over the
   pixels where they differ: 0 = the prior keeps the lid, 1 = it predicts the opening (what SDS would follow);
2. "hollow preferred": views on which the caption lowers the denoising error more for the hollow render than
   for the filled one (each relative to the unconditional error)."""

from __future__ import annotations

import sys
from dataclasses import replace

import torch

from threestudio_lite.config import CameraConfig, PriorConfig
from threestudio_lite.data.cameras import CameraSampler, make_cameras
from threestudio_lite.priors.base import noised, one_step_x0
from threestudio_lite.priors.loading import load_prior
from threestudio_lite.priors.recognize import DenoisingScore
from threestudio_lite.world.objects import Part, composite_object
from threestudio_lite.world.render import composite, render_many
from threestudio_lite.world.sdf import Cylinder

CAPTION = "a mug with a red handle"
VIEWS, NOISE_DRAWS = 16, 4


def mug_renders(elevation: float, generator: torch.Generator, shading: str = "lambertian"):
    """(hollow, filled) renders (V, 3, S, S) in [0, 1] and their cameras."""
    mug = composite_object("mug")
    filled = replace(mug, parts=(Part("cup", Cylinder(0.46, 0.5), "white"), *mug.parts[1:]))  # the cup's outer cylinder
    sampled = CameraSampler(CameraConfig()).sample(VIEWS, 32, 32, generator)
    cams = make_cameras(torch.full((VIEWS,), elevation), sampled.azimuth, sampled.distance, sampled.fovy, 32, 32,
                        light_positions=sampled.light_positions)
    hollow, solid = (composite(render_many([o] * VIEWS, cams, shading), (1.0, 1.0, 1.0)).clamp(0, 1).permute(0, 3, 1, 2)
                     for o in (mug, filled))
    return hollow, solid, cams


@torch.no_grad()
def pull(prior, hollow, solid, cond, t: int, generator: torch.Generator, guidance: float = 3.0) -> float:
    """Mean projection of x0(filled render noised to t) - filled on hollow - filled, in the prior's image units."""
    a = prior.alphas_cumprod[t]
    x0 = prior.encode(solid)
    toward = prior.encode(hollow) - x0
    where = (toward.abs().amax(1, keepdim=True) > 0.2).float()
    estimate = torch.zeros_like(x0)
    for _ in range(NOISE_DRAWS):
        x_t = noised(a, x0, torch.randn(x0.shape, generator=generator))
        eps = prior.predict_noise(x_t, torch.full((len(x0),), t), cond, guidance)
        estimate += one_step_x0(a, x_t, eps) / NOISE_DRAWS
    return float(((estimate - x0) * toward * where).sum() / (toward * toward * where).sum())


def hollow_preferred(prior, hollow, solid, cams) -> int:
    """Views on which the caption helps denoise the hollow render more than the filled one."""
    wins = 0
    for i in range(VIEWS):
        score = DenoisingScore(prior, cams[i : i + 1], 16, torch.Generator().manual_seed(i))
        e = score(torch.stack([hollow[i], solid[i], hollow[i], solid[i]]), [CAPTION, CAPTION, "", ""])
        wins += int(e[0] - e[2] < e[1] - e[3])
    return wins


def main() -> None:
    torch.set_num_threads(2)
    path = sys.argv[1] if len(sys.argv) > 1 else ""
    shading = sys.argv[2] if len(sys.argv) > 2 else "lambertian"
    prior = load_prior(PriorConfig(kind="mini", path=path), "", CameraConfig(), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    for elevation in (30.0, 40.0):
        hollow, solid, cams = mug_renders(elevation, generator, shading)
        cond = prior.condition(CAPTION, cams)
        pulls = "  ".join(f"t={t}: {pull(prior, hollow, solid, cond, t, generator):.2f}" for t in (200, 400, 600, 800))
        wins = hollow_preferred(prior, hollow, solid, cams)
        print(f"elevation {elevation:.0f}: pull {pulls}  | hollow preferred on {wins}/{VIEWS} views")


if __name__ == "__main__":
    main()

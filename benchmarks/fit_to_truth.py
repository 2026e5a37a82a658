"""How well can the text-to-3D NeRF and export represent an object, whatever the prior? The ceiling of SDS.

    python benchmarks/fit_to_truth.py "a mug with a red handle" [RESOLUTION [STEPS [KEY=VALUE ...]]]
    python benchmarks/fit_to_truth.py "a mug with a red handle" 32 600 stages.0.renderer.num_samples=48

Fits the default preset's NeRF (its grid, renderer, camera range and step count) by plain regression to the
object's exact world renders, lit RGB and normal maps, 4 random views a step at RESOLUTION (default 32, the
priors' size), then exports it as a run would and scores the mesh against the exact SDF (IoU, Chamfer, colour).
Roughly the best a perfect prior could get from the same NeRF: the gap to an SDS run is the prior's share."""

from __future__ import annotations

import sys
import time

import torch

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import CameraSampler
from threestudio_lite.evaluation.scoring import score_mesh
from threestudio_lite.systems.nerf_scene import NerfScene
from threestudio_lite.systems.text_to_3d import normal_maps
from threestudio_lite.trainer import build_optimizer, optimizer_step
from threestudio_lite.world import composite, object_from_caption, render


def fit(caption: str, resolution: int, steps: int | None, overrides: list[str]) -> dict:
    """Scores of the fitted NeRF's exported mesh; ``steps`` None: the (overridden) preset's step count."""
    config = load_config("dreamfusion", overrides)
    stage = config.stages[0]
    steps = steps or stage.steps
    obj = object_from_caption(caption)
    torch.manual_seed(config.seed)
    scene = NerfScene(stage)
    optimizer = build_optimizer(scene, stage)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = CameraSampler(config.camera)
    started = time.perf_counter()
    for step in range(steps):
        cams = sampler.sample(stage.batch_size, resolution, resolution, generator)
        with torch.no_grad():
            rgb = composite(render(obj, cams, "lambertian"), (1.0, 1.0, 1.0))
            normals = composite(render(obj, cams, "normal"), (1.0, 1.0, 1.0)).permute(0, 3, 1, 2)
        out = scene.render(cams, ["lambertian"] * len(cams), progress=step / steps, step=step, generator=generator)
        loss = ((out["rgb"] - rgb) ** 2).mean() + ((normal_maps(out) - normals) ** 2).mean()
        optimizer_step(optimizer, loss)
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.5f} ({time.perf_counter() - started:.0f} s)", flush=True)
    scores = score_mesh(scene.export_mesh(config.export), obj)
    return {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    caption = args[0]
    resolution = int(args[1]) if len(args) > 1 else 32
    steps = int(args[2]) if len(args) > 2 else None
    print(caption, f"{resolution}x{resolution}", args[2:], fit(caption, resolution, steps, args[3:]))

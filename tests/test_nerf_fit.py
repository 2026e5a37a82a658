"""The renderer and geometry are sound before any prior is involved: a NeRF fit to world renders by
photometric loss alone reproduces them (same camera convention and light model on both sides)."""

import torch

from threestudio_lite.config import load_config
from threestudio_lite.data.cameras import make_cameras
from threestudio_lite.systems.nerf_scene import NerfScene
from threestudio_lite.trainer import build_optimizer, optimizer_step
from threestudio_lite.world import composite, object_from_caption, psnr, render


def test_photometric_fit_of_world_renders_reaches_28_db_at_64px():
    config = load_config("dreamfusion", [
        "stages.0.geometry.resolutions=[16, 24, 32, 48, 64]", "stages.0.geometry.active_levels=[[0.0, 3], [0.3, 5]]",
        "stages.0.geometry.blob_std=0.3", "stages.0.renderer.num_samples=64", "stages.0.optimizer.lr_grid=0.1",
    ])
    stage = config.stages[0]
    elevation = torch.tensor([0.0, 20.0, 40.0, -5.0] * 4)
    azimuth = torch.arange(16) * 22.5
    cams = make_cameras(elevation, azimuth, 2.4, 42.5, 64, 64)
    target = composite(render(object_from_caption("a snowman with an orange nose"), cams), (1.0, 1.0, 1.0))

    torch.manual_seed(0)
    scene = NerfScene(stage)
    optimizer = build_optimizer(scene, stage)
    g = torch.Generator().manual_seed(0)
    steps = 300
    for step in range(steps):
        pick = torch.randperm(16, generator=g)[:2]
        views = make_cameras(elevation[pick], azimuth[pick], 2.4, 42.5, 64, 64)
        out = scene.render(views, ["lambertian"] * 2, progress=step / steps, step=step, generator=g)
        optimizer_step(optimizer, ((out["rgb"] - target[pick]) ** 2).mean())
    with torch.no_grad():
        out = scene.render(cams, ["lambertian"] * 16, progress=1.0)
    assert psnr(out["rgb"], target) >= 28.0

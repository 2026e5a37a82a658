"""Everything a finished run exports: meshes in ``export/`` and the turntable videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from ..data.cameras import CameraSampler
from ..utils.images import to_uint8
from .texture import textured_mesh
from .writers import write_mesh, write_video


@torch.no_grad()
def turntable_frames(scene, config: RunConfig, batch: int = 4) -> np.ndarray:
    """A full orbit of shaded renders, (frames, H, W, 3) uint8."""
    e = config.export
    cams = CameraSampler(config.camera).orbit(e.turntable_frames, e.turntable_resolution, e.turntable_resolution)
    frames = []
    for i in range(0, len(cams), batch):
        sub = cams[i : i + batch]
        frames.append(to_uint8(scene.render(sub, ["lambertian"] * len(sub), progress=1.0)["rgb"]))
    return np.concatenate(frames)


def export_scene(scene, config: RunConfig, run_dir: Path) -> dict[str, str]:
    """Write the mesh formats of ``config.export`` and the turntable; returns {name: path}."""
    e = config.export
    mesh = scene.export_mesh(e)
    if e.uv_texture:
        texture = scene.geometry.snapshot(1.0)
        mesh = textured_mesh(mesh, lambda p: texture.albedo(p.to(texture.device)), e.texture_size,
                             e.texture_padding)
    written = {}
    for fmt in e.formats:
        written[fmt] = str(write_mesh(mesh, run_dir / "export" / f"model.{fmt}"))
    frames = turntable_frames(scene, config)
    written["turntable_mp4"] = str(write_video(frames, run_dir / "turntable.mp4", e.turntable_fps))
    written["turntable_gif"] = str(write_video(frames, run_dir / "turntable.gif", e.turntable_fps))
    written["vertices"] = len(mesh.vertices)
    written["faces"] = len(mesh.faces)
    return written

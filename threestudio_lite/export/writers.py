"""Asset writers: GLB and OBJ meshes, turntable MP4 and GIF; every file is written atomically."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import trimesh

from ..utils.io import atomic_path

MESH_FORMATS = ("glb", "obj")


def write_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write ``mesh`` in the format its suffix names (.glb or .obj)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in MESH_FORMATS:
        raise ValueError(f"unsupported mesh format {fmt!r}; expected one of {MESH_FORMATS}")
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=fmt)
    return path


def write_video(frames: np.ndarray, path: str | Path, fps: int) -> Path:
    """Frames (N, H, W, 3) uint8 -> .mp4 (H.264) or .gif, by the path's suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gif":
            imageio.mimwrite(tmp, list(frames), format="GIF", duration=1000.0 / fps, loop=0)
        else:
            imageio.mimwrite(tmp, list(frames), format="FFMPEG", fps=fps, codec="libx264", quality=8,
                             macro_block_size=1, pixelformat="yuv420p")
    return path

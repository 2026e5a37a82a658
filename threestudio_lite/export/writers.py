"""Asset writers: GLB, OBJ (+ MTL and texture PNG) and PLY meshes, turntable MP4 and GIF; every file is written
atomically (an OBJ's material files before the OBJ itself)."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import trimesh

from ..utils.io import atomic_path

MESH_FORMATS = ("glb", "obj", "ply")


def write_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write ``mesh`` in the format its suffix names, with normals. A UV-textured mesh keeps its texture in GLB
    (embedded) and OBJ (``model.mtl`` and the PNG beside it); PLY has no textures, so it gets vertex colours."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in MESH_FORMATS:
        raise ValueError(f"unsupported mesh format {fmt!r}; expected one of {MESH_FORMATS}")
    textured = isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    if fmt == "obj":
        text, files = trimesh.exchange.obj.export_obj(mesh, include_normals=True, return_texture=True,
                                                      mtl_name=f"{path.stem}.mtl")
        for name, data in files.items():
            with atomic_path(path.parent / name) as tmp:
                Path(tmp).write_bytes(data)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
        return path
    if fmt == "ply" and textured:
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, visual=mesh.visual.to_color(), process=False)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=fmt, **({"include_normals": True} if fmt == "glb" else {}))
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

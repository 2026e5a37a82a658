"""Scores of an exported mesh against a world object: volumetric IoU, Chamfer distance, colour error and,
for asymmetric objects, whether the part marking the front is on the front and appears once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from ..world.metrics import chamfer_distance, color_error, front_marker_check, volumetric_iou_mesh
from ..world.objects import WorldObject


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """An exported mesh with per-vertex colours (a UV texture is sampled at the vertices)."""
    mesh = trimesh.load(path, force="mesh", process=False)
    if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
        mesh.visual = mesh.visual.to_color()
    return mesh


def surface_colors(mesh: trimesh.Trimesh, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform surface points of a vertex-coloured mesh and their interpolated colours in [0, 1]."""
    points, faces = trimesh.sample.sample_surface(mesh, n, seed=seed)
    corners = mesh.vertices[mesh.faces[faces]]
    bary = trimesh.triangles.points_to_barycentric(corners, points)
    colors = np.asarray(mesh.visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
    return points, (colors[mesh.faces[faces]] * bary[..., None]).sum(1)


def score_mesh(mesh: trimesh.Trimesh, obj: WorldObject) -> dict:
    points, colors = surface_colors(mesh)
    vertex_colors = np.asarray(mesh.visual.vertex_colors)
    return {
        "iou": round(volumetric_iou_mesh(mesh, obj, resolution=64), 4),
        "chamfer": round(chamfer_distance(mesh, obj), 4),
        "color_error": round(color_error(points, colors, obj), 4),
        "front_ok": front_marker_check(mesh, vertex_colors, obj),
    }

"""Mesh rendering with the CPU rasterizer, in the volume renderer's output format (rgb, opacity, depth,
normal; (B, H, W, C) each), so the prior and the losses do not care which renderer made an image."""

from __future__ import annotations

import torch

from ..data.cameras import Cameras
from .background import Background
from .material import MaterialConfig, shade
from .rasterizer import antialias, interpolate, rasterize


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (V, 3) of a counter-clockwise mesh (differentiable)."""
    v = vertices[faces]
    face_normals = torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1)  # length = 2 x area
    normals = torch.zeros_like(vertices).index_add(0, faces.reshape(-1), face_normals.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(normals, dim=-1)


def render_mesh(
    vertices: torch.Tensor, faces: torch.Tensor, albedo_fn, background: Background, cameras: Cameras,
    shading: list[str], material: MaterialConfig,
) -> dict[str, torch.Tensor]:
    """Render a mesh whose colour is ``albedo_fn(points (N, 3)) -> (N, 3)`` (e.g. a texture field), queried
    only at the visible surface points; silhouettes are antialiased in colour and opacity."""
    B, H, W = len(cameras), cameras.height, cameras.width
    fragments = rasterize(vertices, faces, cameras)
    covered = fragments.face >= 0
    points = interpolate(vertices, faces, fragments)
    normal = torch.nn.functional.normalize(interpolate(vertex_normals(vertices, faces), faces, fragments), dim=-1)
    b, i, j = covered.nonzero(as_tuple=True)
    albedo = albedo_fn(points[b, i, j])
    color = torch.zeros(B, H, W, albedo.shape[-1], dtype=albedo.dtype, device=albedo.device)
    for view, mode in enumerate(shading):
        sel = b == view
        lit = shade(mode, albedo[sel], normal[b[sel], i[sel], j[sel]], points[b[sel], i[sel], j[sel]],
                    cameras.light_positions[view].to(points), material)
        color = color.index_put((b[sel], i[sel], j[sel]), lit)
    opacity = covered.unsqueeze(-1).to(color.dtype)
    origins, dirs = cameras.rays()
    rgb = color + (1.0 - opacity) * background(dirs.to(color.device))
    smoothed = antialias(torch.cat([rgb, opacity], -1), fragments, faces)
    depth = (points - origins.to(points)).norm(dim=-1, keepdim=True) * opacity
    return {"rgb": smoothed[..., :3], "opacity": smoothed[..., 3:], "depth": depth, "normal": normal * opacity,
            "face": fragments.face}

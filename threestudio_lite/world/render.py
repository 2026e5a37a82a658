"""Ground-truth renders of world objects: sphere tracing of the exact SDF for a batch of cameras in the project's
one convention, shaded with the project's one light model, alpha from supersampled coverage."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.cameras import Cameras, make_cameras
from ..renderers.material import MaterialConfig, shade
from ..utils.images import save_image
from .captions import object_from_caption
from .objects import WorldObject
from .sdf import SDF, Scale, Union

BOUND_RADIUS = 1.0  # every object lies inside the unit sphere: rays start and stop on it
TETRAHEDRON = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])


def sphere_trace(
    sdf, origins: torch.Tensor, dirs: torch.Tensor, epsilon: torch.Tensor | float, max_iterations: int = 256,
    unresolved: float = 1e-3,
) -> torch.Tensor:
    """March rays (R, 3) by the SDF value from where they enter the bounding sphere; a ray stops once closer than
    ``epsilon`` (a hit) or past the sphere (a miss). Returns the ray parameter t (R,) of each hit, inf for misses.

    Marching ends when at most ``unresolved`` of the rays are still going (or after ``max_iterations`` steps):
    those are rays grazing a surface, which converge slowly and would cost many nearly empty steps; they count
    as misses. Finished rays are frozen and dropped from the working set whenever they make up a quarter of it
    (dropping them at every step costs more in gathers than it saves)."""
    b = -(origins * dirs).sum(-1)
    disc = b * b - (origins * origins).sum(-1) + BOUND_RADIUS**2
    root = disc.clamp_min(0).sqrt()
    t_hit = torch.full_like(b, math.inf)
    ray = torch.nonzero(disc > 0).squeeze(-1)
    o, d, t, t_far = origins[ray], dirs[ray], (b - root).clamp_min(0)[ray], (b + root)[ray]
    eps = torch.as_tensor(epsilon, dtype=torch.float32).expand_as(b)[ray]
    done = torch.zeros_like(t, dtype=torch.bool)
    for _ in range(max_iterations):
        if ray.numel() <= unresolved * len(b):
            break
        dist = sdf(o + t[:, None] * d)
        t = t + dist.masked_fill(done, 0.0)
        arrived = (dist < eps) & ~done
        t_hit[ray[arrived]] = t[arrived]
        done = done | arrived | (t > t_far)
        if done.sum() * 4 >= done.numel():
            keep = torch.nonzero(~done).squeeze(-1)
            ray, o, d, t, t_far, eps, done = ray[keep], o[keep], d[keep], t[keep], t_far[keep], eps[keep], done[keep]
    return t_hit


def sdf_normals(sdf, points: torch.Tensor, h: float = 1e-3) -> torch.Tensor:
    """Unit outward normals (N, 3) by a tetrahedral finite difference of the SDF (robust on the surface itself,
    where the distance's direction is lost to rounding)."""
    values = sdf((points[:, None, :] + h * TETRAHEDRON).reshape(-1, 3)).view(-1, 4, 1)
    return torch.nn.functional.normalize((values * TETRAHEDRON).sum(1), dim=-1)


def _shape_and_scale(obj: WorldObject) -> tuple[SDF, float]:
    """The object's geometry up to a uniform scale, and that scale. Objects that differ only in colour or size
    share the geometry, so they are traced together (a scaled object seen from o is the unscaled one seen from
    o / scale)."""
    if len(obj.parts) == 1 and isinstance(obj.parts[0].sdf, Scale):
        return obj.parts[0].sdf.sdf, obj.parts[0].sdf.factor
    return Union(tuple(part.sdf for part in obj.parts)), 1.0


def render_many(
    objects: Sequence[WorldObject], cameras: Cameras, shading: str | Sequence[str] = "lambertian",
    supersample: int = 2, material: MaterialConfig | None = None, unresolved: float = 1e-3,
) -> torch.Tensor:
    """RGBA images (B, H, W, 4) in [0, 1] of objects[i] seen by camera i.

    Alpha is the covered fraction of each pixel's supersample x supersample sub-pixels; RGB is the mean shaded
    colour of the covered sub-pixels (not premultiplied; 0 where nothing is covered, see ``composite``).
    ``shading`` is one of material.SHADING_MODES or one mode per camera; lights are ``cameras.light_positions``.
    All rays of the cameras showing the same geometry are sphere-traced in one batch; up to ``unresolved`` of
    them, grazing a surface, may be left uncovered (see ``sphere_trace``)."""
    B, H, W, s = len(cameras), cameras.height, cameras.width, supersample
    modes = [shading] * B if isinstance(shading, str) else list(shading)
    if len(objects) != B or len(modes) != B:
        raise ValueError(f"got {len(objects)} objects and {len(modes)} shading modes for {B} cameras")
    fine = cameras.with_resolution(H * s, W * s)
    n = H * s * W * s
    origins, dirs = (x.reshape(B, n, 3) for x in fine.rays())
    # Stop within 2% of a sub-pixel's footprint at the camera's distance: the silhouette is fattened by that much.
    epsilon = 0.02 * cameras.positions.norm(dim=-1) / fine.focal()

    groups: dict[SDF, list[int]] = {}
    scales = torch.ones(B)
    for i, obj in enumerate(objects):
        shape, scales[i] = _shape_and_scale(obj)
        groups.setdefault(shape, []).append(i)
    rays, points, normals = [], [], []
    for shape, members in groups.items():
        cams = torch.tensor(members)
        ray_scale = scales[cams].repeat_interleave(n)
        o, d = origins[cams].reshape(-1, 3) / ray_scale[:, None], dirs[cams].reshape(-1, 3)
        t = sphere_trace(shape, o, d, (epsilon[cams] / scales[cams]).repeat_interleave(n), unresolved=unresolved)
        hit = torch.nonzero(t.isfinite()).squeeze(-1)
        local = o[hit] + t[hit, None] * d[hit]
        rays.append(cams[hit // n] * n + hit % n)
        points.append(local * ray_scale[hit, None])
        normals.append(sdf_normals(shape, local))
    rays, points, normals = torch.cat(rays), torch.cat(points), torch.cat(normals)
    camera = rays // n

    distinct = list(dict.fromkeys(objects))
    object_of_camera = torch.tensor([distinct.index(obj) for obj in objects])[camera]
    albedo = torch.zeros_like(points)
    for k, obj in enumerate(distinct):
        pick = object_of_camera == k
        albedo[pick] = obj.color(points[pick])
    kinds = sorted(set(modes))
    mode_of_camera = torch.tensor([kinds.index(mode) for mode in modes])[camera]
    lights = cameras.light_positions[camera]
    material = material or MaterialConfig()
    colors = torch.zeros_like(points)
    for k, mode in enumerate(kinds):
        pick = mode_of_camera == k
        colors[pick] = shade(mode, albedo[pick], normals[pick], points[pick], lights[pick], material)

    rgb, covered = torch.zeros(B * n, 3), torch.zeros(B * n, 1)
    rgb[rays], covered[rays] = colors.clamp(0.0, 1.0), 1.0
    coverage = covered.view(B, H, s, W, s, 1).sum((2, 4))
    rgb_sum = rgb.view(B, H, s, W, s, 3).sum((2, 4))
    return torch.cat([rgb_sum / coverage.clamp_min(1.0), coverage / (s * s)], -1)


def render(obj: WorldObject, cameras: Cameras, shading: str | Sequence[str] = "lambertian", **kwargs) -> torch.Tensor:
    """RGBA images (B, H, W, 4) of one object seen by every camera; see ``render_many`` for the options."""
    return render_many([obj] * len(cameras), cameras, shading, **kwargs)


def composite(rgba: torch.Tensor, background_rgb) -> torch.Tensor:
    """RGB (..., 3) of non-premultiplied RGBA over a background colour (3,) or image broadcastable to (..., 3)."""
    background = torch.as_tensor(background_rgb, dtype=rgba.dtype)
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + background * (1.0 - alpha)


def render_caption_to_png(
    caption: str, elevation: float, azimuth: float, distance: float, fovy: float, size: int,
    out_path: str | os.PathLike, *, shading: str = "lambertian", supersample: int = 2,
) -> Path:
    """Render the object a caption names from one camera (light at the camera) to an RGBA PNG of size x size.

    Raises ValueError (one line) for a caption that names no object of the world."""
    obj = object_from_caption(caption)
    cameras = make_cameras(elevation, azimuth, distance, fovy, size, size)
    return save_image(render(obj, cameras, shading, supersample=supersample)[0], out_path)

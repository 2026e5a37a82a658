"""Volume renderer for implicit fields, built for the CPU.

Samples sit at a fixed step along each ray inside the unit sphere. Three things keep the number of field
evaluations small, which is what costs time here: samples in empty occupancy-grid cells are dropped; a
cheap no-grad pass over the density channel finds where transmittance has died and drops the samples
behind it; only the survivors are evaluated with gradients. Weights come from nerfacc's dense
``render_weight_from_density`` over a (rays, samples) layout on the CPU, and from its packed CUDA kernels
when the field lives on a GPU. Shading is deferred: albedo, normal and depth are composited per ray and each
ray is lit once. Outputs are (B, H, W, C): rgb, opacity, depth, normal, orientation."""

from __future__ import annotations

from dataclasses import dataclass

import nerfacc
import torch

from ..data.cameras import Cameras
from ..schedule import Schedule, schedule_values, value_at
from .background import Background
from .material import MaterialConfig, lambertian
from .occupancy import OccupancyGrid


@dataclass
class RendererConfig:
    # Samples across the unit sphere's diameter (step = 2 / num_samples); a number or a schedule over the stage.
    # Walls thinner than about two steps come out too thick: a jittered sample meets them only now and then.
    num_samples: Schedule = 64.0
    occupancy: bool = True
    occupancy_resolution: int = 32
    occupancy_threshold: float = 0.01
    occupancy_update_every: int = 8
    # Samples behind which transmittance is below this are skipped (0 turns the pre-pass off).
    early_stop_transmittance: float = 1e-3

    def __post_init__(self):
        if min(schedule_values(self.num_samples)) < 1:
            raise ValueError(f"num_samples: at least 1 sample per ray, got {self.num_samples!r}")


def intersect_unit_sphere(origins: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entry and exit distances of unit-direction rays with the unit sphere, and whether they hit it."""
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - 1.0
    disc = b * b - c
    hit = disc > 0
    root = disc.clamp(min=0).sqrt()
    return (-b - root).clamp(min=0.0), -b + root, hit


def _weights(t_starts: torch.Tensor, t_ends: torch.Tensor, sigmas: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Rendering weights of the evaluated samples (rows, cols) of a (rays, samples) layout."""
    if sigmas.is_cuda:
        weights, _, _ = nerfacc.render_weight_from_density(
            t_starts[rows, cols], t_ends[rows, cols], sigmas[rows, cols], ray_indices=rows, n_rays=t_starts.shape[0]
        )
        return weights
    weights, _, _ = nerfacc.render_weight_from_density(t_starts, t_ends, sigmas)
    return weights[rows, cols]


class VolumeRenderer(torch.nn.Module):
    def __init__(self, config: RendererConfig):
        super().__init__()
        self.config = config
        self.occupancy = (
            OccupancyGrid(config.occupancy_resolution, config.occupancy_threshold) if config.occupancy else None
        )

    def num_samples(self, progress: float) -> int:
        """Samples across the unit sphere's diameter at stage ``progress``."""
        return round(value_at(self.config.num_samples, progress))  # >= 1: every point is (RendererConfig)

    def update_occupancy(self, field, step: int, generator: torch.Generator, progress: float = 1.0) -> None:
        """Refresh the occupancy grid every ``occupancy_update_every`` steps (and at the first call)."""
        if self.occupancy is None:
            return
        if step % self.config.occupancy_update_every == 0 or not bool(self.occupancy.initialized):
            self.occupancy.update(field.density, 2.0 / self.num_samples(progress), generator)

    def forward(
        self, field, background: Background, cameras: Cameras, shading: list[str], material: MaterialConfig,
        generator: torch.Generator | None = None, progress: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """Render ``field`` (a geometry snapshot with ``density`` and ``query``) from ``cameras``.

        ``shading`` gives each camera's mode (see material.SHADING_MODES); ``generator`` jitters the samples
        (training), None places them at interval centres (evaluation); ``progress`` picks the sample step."""
        B, H, W = len(cameras), cameras.height, cameras.width
        origins, dirs = (x.reshape(-1, 3) for x in cameras.rays())
        device = origins.device
        n_rays, n_samples = origins.shape[0], self.num_samples(progress)
        step_size = 2.0 / n_samples
        t_near, t_far, hit = intersect_unit_sphere(origins, dirs)
        ray_ids = hit.nonzero()[:, 0]
        o, d = origins[ray_ids], dirs[ray_ids]
        t_near, t_far = t_near[ray_ids], t_far[ray_ids]

        k = torch.arange(n_samples, device=device, dtype=torch.float32)
        t_starts = t_near[:, None] + k * step_size
        t_ends = t_starts + step_size
        if generator is None:
            jitter = torch.full_like(t_starts, 0.5)
        else:
            jitter = torch.rand(t_starts.shape, generator=generator).to(device)
        t_mid = t_starts + jitter * step_size
        points = o[:, None, :] + d[:, None, :] * t_mid[..., None]
        keep = t_mid < t_far[:, None]
        if self.occupancy is not None:
            keep &= self.occupancy.query(points)
        if self.config.early_stop_transmittance > 0:
            keep &= self._alive(field, points, keep, step_size)

        rows, cols = keep.nonzero(as_tuple=True)
        samples = field.query(points[rows, cols])
        sigmas = torch.zeros(keep.shape, device=device, dtype=samples["density"].dtype)
        sigmas = sigmas.index_put((rows, cols), samples["density"])
        w = _weights(t_starts, t_ends, sigmas, rows, cols)[:, None]

        def composite(values: torch.Tensor) -> torch.Tensor:
            per_hit_ray = torch.zeros(len(ray_ids), values.shape[-1], device=device, dtype=values.dtype)
            per_hit_ray = per_hit_ray.index_add(0, rows, values)
            full = torch.zeros(n_rays, values.shape[-1], device=device, dtype=values.dtype)
            return full.index_copy(0, ray_ids, per_hit_ray)

        opacity = composite(w)
        normal = composite(w * samples["normal"])
        depth = composite(w * t_mid[rows, cols][:, None])
        albedo = composite(w * samples["albedo"])
        # Deferred shading: each ray is lit once, at its expected surface point with its composited normal.
        # Shading every sample with its own normal darkens and speckles the image where the field's
        # normals are noisy along the ray, and SDS then pays for the speckle with a darker albedo.
        cam = torch.arange(B, device=device).repeat_interleave(H * W)
        modes = torch.tensor([["albedo", "lambertian", "textureless"].index(m) for m in shading], device=device)[cam]
        surface = origins + dirs * (depth / opacity.clamp(min=1e-6))
        shade = lambertian(torch.ones_like(opacity), normal, surface, cameras.light_positions[cam], material.ambient,
                           material.diffuse)
        color = torch.where((modes == 0)[:, None], albedo, torch.where((modes == 2)[:, None], opacity * shade, albedo * shade))
        facing = (samples["normal"] * d[rows]).sum(-1, keepdim=True).clamp(min=0.0) ** 2
        rgb = color + (1.0 - opacity) * background(dirs)
        out = {
            "rgb": rgb,
            "opacity": opacity,
            "depth": depth,
            "normal": normal,
            "orientation": composite(w.detach() * facing),
        }
        out = {name: value.view(B, H, W, -1) for name, value in out.items()}
        out["samples_evaluated"] = torch.tensor(len(rows))
        return out

    @torch.no_grad()
    def _alive(self, field, points: torch.Tensor, keep: torch.Tensor, step_size: float) -> torch.Tensor:
        """Samples whose transmittance (from a no-grad density pass) is still above the early-stop level."""
        rows, cols = keep.nonzero(as_tuple=True)
        tau = torch.zeros(keep.shape, device=points.device)
        tau[rows, cols] = field.density(points[rows, cols]) * step_size
        transmittance = torch.exp(-(torch.cumsum(tau, dim=1) - tau))
        return transmittance > self.config.early_stop_transmittance

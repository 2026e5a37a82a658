"""Occupancy grid for empty-space skipping, in plain torch (nerfacc's sampler needs CUDA).

Same idea as nerfacc's OccGridEstimator: every few steps the density is evaluated at one jittered point
per cell, kept as a decaying running maximum, and cells whose opacity over one ray step
(density · step) exceeds a threshold are marked occupied; the mask is dilated by one cell so that a
surface moving by less than a cell between updates is not cut off."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


class OccupancyGrid(torch.nn.Module):
    def __init__(self, resolution: int, threshold: float, decay: float = 0.9):
        super().__init__()
        self.resolution = resolution
        self.threshold = threshold
        self.decay = decay
        self.register_buffer("values", torch.zeros(resolution, resolution, resolution))
        self.register_buffer("mask", torch.ones(resolution, resolution, resolution, dtype=torch.bool))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def cell_centers(self) -> torch.Tensor:
        r = self.resolution
        idx = torch.arange(r, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), -1).reshape(-1, 3)
        return -1.0 + (grid + 0.5) * (2.0 / r)

    @torch.no_grad()
    def update(self, density_fn: Callable[[torch.Tensor], torch.Tensor], step_size: float, generator: torch.Generator):
        """Re-evaluate the density once per cell (at a random point inside it) and refresh the mask."""
        r = self.resolution
        jitter = (torch.rand(r**3, 3, generator=generator) - 0.5) * (2.0 / r)
        points = self.cell_centers() + jitter
        opacity = (density_fn(points) * step_size).view(r, r, r)
        if bool(self.initialized):
            self.values.copy_(torch.maximum(self.values * self.decay, opacity))
        else:
            self.values.copy_(opacity)
            self.initialized.fill_(True)
        occupied = (self.values > self.threshold).float()[None, None]
        self.mask.copy_(F.max_pool3d(occupied, kernel_size=3, stride=1, padding=1)[0, 0] > 0)

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """Whether each point (..., 3) in [-1, 1]³ lies in an occupied cell (outside the grid: False)."""
        r = self.resolution
        idx = ((points + 1.0) * (r / 2.0)).floor().long()
        inside = ((idx >= 0) & (idx < r)).all(-1)
        idx = idx.clamp(0, r - 1)
        return inside & self.mask[idx[..., 0], idx[..., 1], idx[..., 2]]

    def occupied_fraction(self) -> float:
        return self.mask.float().mean().item()

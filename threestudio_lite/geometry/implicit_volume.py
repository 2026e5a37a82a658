"""Implicit volume: density and albedo over the unit sphere from a multi-resolution dense grid.

Density is exp(grid channel + blob), the blob being DreamFusion's Gaussian density bias
(blob_density · exp(-|x|² / 2σ²)) that starts the optimization from a fuzzy ball. The density is read
from the grid without an MLP so that its gradient, hence the normal, is analytic: a central-difference
gradient grid is composed once per step and looked up in the same gather as the features. Albedo comes
from a small MLP head over the remaining feature channels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..schedule import Schedule, value_at
from .grid_encoding import PyramidGrid, channels_last_table, spatial_gradient, trilinear


@dataclass
class ImplicitVolumeConfig:
    resolutions: list[int] = field(default_factory=lambda: [12, 16, 24, 32, 48])
    # Number of pyramid levels in use, as a schedule over the stage (coarse-to-fine).
    active_levels: Schedule = field(default_factory=lambda: [[0.0, 3.0], [0.5, 5.0]])
    feature_channels: int = 6
    init_std: float = 0.01
    hidden: int = 32
    blob_density: float = 10.0
    blob_std: float = 0.4
    max_log_density: float = 10.0
    # Channels of the colour head and its activation: 3 and "sigmoid" for albedo in [0, 1]; a latent-render
    # stage sets 4 and "none" (the field then holds a latent diffusion model's latents).
    color_channels: int = 3
    color_activation: str = "sigmoid"


def blob_log_density(points: torch.Tensor, config: ImplicitVolumeConfig) -> torch.Tensor:
    """log of DreamFusion's density bias blob_density · exp(-|x|² / 2σ²)."""
    return math.log(config.blob_density) - (points * points).sum(-1) / (2.0 * config.blob_std**2)


class ImplicitVolume(torch.nn.Module):
    """Density + albedo field; ``snapshot(progress)`` composes the grid once for a step's queries."""

    def __init__(self, config: ImplicitVolumeConfig):
        super().__init__()
        self.config = config
        self.grid = PyramidGrid(config.resolutions, 1 + config.feature_channels, config.init_std)
        self.albedo_head = torch.nn.Sequential(
            torch.nn.Linear(config.feature_channels, config.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(config.hidden, config.color_channels),
        )
        if config.color_activation not in ("sigmoid", "none"):
            raise ValueError(f"geometry.color_activation must be 'sigmoid' or 'none', got {config.color_activation!r}")

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"grid": list(self.grid.parameters()), "mlp": list(self.albedo_head.parameters())}

    @torch.no_grad()
    def set_log_density(self, fn) -> None:
        """Shape initialisation: make the fully composed field's log-density equal ``fn(points)`` at the
        finest level's grid points (coarser levels' density channels are zeroed)."""
        for level in self.grid.levels:
            level[:, 0] = 0.0
        finest = self.grid.levels[-1]
        r = finest.shape[-1]
        axis = torch.linspace(-1.0, 1.0, r)
        points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        finest[0, 0] = (fn(points) - blob_log_density(points, self.config)).view(r, r, r).to(finest)

    @torch.no_grad()
    def set_start_albedo(self, color: torch.Tensor) -> None:
        """Colour initialisation: the sigmoid colour head's output bias at logit(``color``) (3,), so the albedo
        starts near that colour wherever the features are still near zero."""
        if self.config.color_activation != "sigmoid":
            raise ValueError("a start albedo needs the sigmoid colour head")
        bias = self.albedo_head[-1].bias
        bias.copy_(torch.logit(color.clamp(0.02, 0.98)).to(bias))

    def snapshot(self, progress: float) -> "FieldSnapshot":
        grid = self.grid.compose(round(value_at(self.config.active_levels, progress)))
        table = channels_last_table(torch.cat([grid[:1], spatial_gradient(grid[:1]), grid[1:]], 0))
        return FieldSnapshot(table, grid.shape[-1], self.albedo_head, self.config)


class FieldSnapshot:
    """The field frozen for one step: table channels are [log-density, its xyz gradient, features...]."""

    def __init__(self, table: torch.Tensor, resolution: int, albedo_head: torch.nn.Module, config: ImplicitVolumeConfig):
        self.table = table
        self.resolution = resolution
        self.albedo_head = albedo_head
        self.config = config

    @property
    def device(self) -> torch.device:
        return self.table.device

    def _blob(self, points: torch.Tensor) -> torch.Tensor:
        return blob_log_density(points, self.config)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """Density at points (N, 3), reading only the density channel (cheap; for occupancy and export)."""
        raw = trilinear(self.table[:, :1], self.resolution, points)[:, 0]
        return torch.exp((raw + self._blob(points)).clamp(max=self.config.max_log_density))

    def query(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Density (N,), albedo (N, C) (in [0, 1] with the sigmoid) and unit outward normals (N, 3) at points (N, 3)."""
        values = trilinear(self.table, self.resolution, points)
        log_density = (values[:, 0] + self._blob(points)).clamp(max=self.config.max_log_density)
        grad = values[:, 1:4] - points / self.config.blob_std**2
        normal = -torch.nn.functional.normalize(grad, dim=-1)
        return {"density": torch.exp(log_density), "albedo": self._color(values[:, 4:]), "normal": normal}

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        """Albedo (N, C) alone, reading only the feature channels (mesh renders, vertex colours, texture bakes)."""
        return self._color(trilinear(self.table[:, 4:], self.resolution, points))

    def _color(self, features: torch.Tensor) -> torch.Tensor:
        albedo = self.albedo_head(features)
        return torch.sigmoid(albedo) if self.config.color_activation == "sigmoid" else albedo

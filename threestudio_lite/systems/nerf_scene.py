"""A NeRF stage's representation: implicit volume + volume renderer + background + material."""

from __future__ import annotations

import torch

from ..config import OptimizerConfig, StageConfig
from ..data.cameras import Cameras
from ..geometry.implicit_volume import ImplicitVolume
from ..renderers.background import Background
from ..renderers.volume import VolumeRenderer


class NerfScene(torch.nn.Module):
    def __init__(self, config: StageConfig):
        super().__init__()
        self.material = config.material
        self.geometry = ImplicitVolume(config.geometry)
        self.renderer = VolumeRenderer(config.renderer)
        self.background = Background(config.background)

    def parameter_groups(self, opt: OptimizerConfig) -> list[dict]:
        groups = self.geometry.parameter_groups()
        out = [{"params": groups["grid"], "lr": opt.lr_grid}, {"params": groups["mlp"], "lr": opt.lr_mlp}]
        background = list(self.background.parameters())
        if background:
            out.append({"params": background, "lr": opt.lr_background})
        return out

    def field(self, progress: float):
        """The geometry composed for one step (or for export, at progress 1)."""
        return self.geometry.snapshot(progress)

    def render(
        self, cameras: Cameras, shading: list[str], progress: float, step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render views; during training pass ``step`` and ``generator`` (occupancy refresh, jitter)."""
        field = self.field(progress)
        if step is not None:
            self.renderer.update_occupancy(field, step, generator)
        return self.renderer(field, self.background, cameras.to(self.background.color.device), shading,
                             self.material, generator)

"""A NeRF stage's representation: implicit volume + volume renderer + background + material."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..config import OptimizerConfig, StageConfig
from ..data.cameras import Cameras
from ..geometry.implicit_volume import ImplicitVolume
from ..renderers.background import Background, BackgroundConfig
from ..renderers.volume import VolumeRenderer

#: Latent channels of the latent diffusion models we distil from (Stable Diffusion 1.x/2.x VAEs).
LATENT_CHANNELS = 4


class NerfScene(torch.nn.Module):
    def __init__(self, config: StageConfig):
        super().__init__()
        self.material = config.material
        geometry, background = config.geometry, config.background
        if config.latent_renders:  # 4 unbounded latent channels over a solid latent set by the system
            geometry = replace(geometry, color_channels=LATENT_CHANNELS, color_activation="none")
            background = BackgroundConfig(kind="solid", color=(0.0,) * LATENT_CHANNELS)
        self.geometry = ImplicitVolume(geometry)
        self.renderer = VolumeRenderer(config.renderer)
        self.background = Background(background)

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

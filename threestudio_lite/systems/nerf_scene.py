"""A NeRF stage's representation: implicit volume + volume renderer + background + material."""

from __future__ import annotations

from dataclasses import replace

import torch
import trimesh

from ..config import ExportConfig, OptimizerConfig, StageConfig
from ..data.cameras import Cameras
from ..geometry.dmtet import DMTet, DMTetConfig
from ..geometry.implicit_volume import ImplicitVolume
from ..renderers.background import Background, BackgroundConfig
from ..renderers.volume import VolumeRenderer

#: Latent channels of the latent diffusion models we distil from (Stable Diffusion 1.x/2.x VAEs).
LATENT_CHANNELS = 4


def field_and_background_groups(scene: torch.nn.Module, opt: OptimizerConfig) -> list[dict]:
    """Optimizer groups of a scene's field (``geometry``: grid and MLP) and learned background, if any."""
    groups = scene.geometry.parameter_groups()
    out = [{"params": groups["grid"], "lr": opt.lr_grid}, {"params": groups["mlp"], "lr": opt.lr_mlp}]
    background = list(scene.background.parameters())
    if background:
        out.append({"params": background, "lr": opt.lr_background})
    return out


def load_matching(scene: torch.nn.Module, previous: torch.nn.Module) -> None:
    """Copy every tensor of ``previous`` that ``scene`` has under the same name and shape; keep the rest."""
    own = scene.state_dict()
    scene.load_state_dict({k: v for k, v in previous.state_dict().items() if k in own and own[k].shape == v.shape},
                          strict=False)


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
        return field_and_background_groups(self, opt)

    def start_from(self, previous: torch.nn.Module) -> None:
        """Continue from the previous stage's scene. Between a latent and an RGB stage the geometry carries over
        and the colour head (a different width) starts afresh."""
        load_matching(self, previous)

    @torch.no_grad()
    def export_mesh(self, config: ExportConfig) -> trimesh.Trimesh:
        """The density's surface (``config.surface`` says which level and how), with albedo vertex colours."""
        from ..export.mesh import colored_surface, extract_mesh

        field = self.field(1.0)
        if config.surface == "marching-cubes":
            return extract_mesh(field, config.mc_resolution, config.isosurface_density, config.min_component_fraction)
        dmtet = DMTet(DMTetConfig(resolution=config.surface_resolution)).to(self.background.color.device)
        level = dmtet.init_from_scene(self)
        if config.silhouette_mesher == "marching-cubes":
            return extract_mesh(field, config.mc_resolution, level, config.min_component_fraction)
        return colored_surface(*dmtet.mesh(), field, config.min_component_fraction)

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
            self.renderer.update_occupancy(field, step, generator, progress)
        return self.renderer(field, self.background, cameras.to(self.background.color.device), shading,
                             self.material, generator, progress)

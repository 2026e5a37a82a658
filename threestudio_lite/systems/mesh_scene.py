"""A mesh stage's representation (Magic3D's refine stage): a DMTet surface, rendered by the CPU rasterizer,
coloured by a texture field (the coarse stage's grid + albedo MLP, carried over), over a background."""

from __future__ import annotations

import torch
import trimesh

from ..config import ExportConfig, OptimizerConfig, StageConfig
from ..data.cameras import Cameras
from ..errors import UserError
from ..geometry.dmtet import DMTet
from ..geometry.implicit_volume import ImplicitVolume
from ..renderers.background import Background
from ..renderers.mesh import render_mesh
from .nerf_scene import field_and_background_groups, load_matching


class MeshScene(torch.nn.Module):
    def __init__(self, config: StageConfig):
        super().__init__()
        if config.latent_renders:
            raise UserError(f"stage {config.name!r}: latent renders need a NeRF stage (representation: nerf)")
        self.material = config.material
        self.geometry = ImplicitVolume(config.geometry)  # the texture field; its density only seeds the shape
        self.dmtet = DMTet(config.dmtet)
        self.background = Background(config.background)

    def parameter_groups(self, opt: OptimizerConfig) -> list[dict]:
        """Texture field and background, and the shape unless ``lr_shape`` is 0: then the shape is frozen, so no
        backward pass runs through the rasterizer's vertices and marching tetrahedra (~20% of a texture step)."""
        shape = [self.dmtet.sdf, self.dmtet.deform]
        for p in shape:
            p.requires_grad_(opt.lr_shape > 0)
        groups = field_and_background_groups(self, opt)
        return groups + [{"params": shape, "lr": opt.lr_shape}] if opt.lr_shape > 0 else groups

    def start_from(self, previous: torch.nn.Module) -> None:
        """Take the coarse stage's texture field and background, and its density as the initial surface (or a
        previous mesh stage's surface)."""
        load_matching(self, previous)
        if not hasattr(previous, "dmtet"):
            self.dmtet.init_from_scene(previous)

    def render(
        self, cameras: Cameras, shading: list[str], progress: float, step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        vertices, faces = self.dmtet.mesh()
        texture = self.geometry.snapshot(progress)
        out = render_mesh(vertices, faces, texture.albedo, self.background,
                          cameras.to(self.background.color.device), shading, self.material)
        out["mesh_vertices"], out["mesh_faces"] = vertices, faces  # for the mesh regularizers (losses.py)
        out["samples_evaluated"] = torch.tensor(len(faces))
        return out

    @torch.no_grad()
    def export_mesh(self, config: ExportConfig) -> trimesh.Trimesh:
        """The DMTet surface itself (no re-meshing), cleaned, with albedo vertex colours."""
        from ..export.mesh import colored_surface

        return colored_surface(*self.dmtet.mesh(), self.geometry.snapshot(1.0), config.min_component_fraction)

"""DMTet (deformable tetrahedral mesh): a signed value and a bounded offset per vertex of a tetrahedral grid;
the surface is their marching-tetrahedra zero level set, differentiable in both."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .tetrahedra import marching_tetrahedra, tet_grid


@dataclass
class DMTetConfig:
    # Grid cells per axis over [-1, 1]³ (6 tetrahedra per cell).
    resolution: int = 32
    # Largest vertex offset, in cells (offsets are tanh-bounded so tetrahedra cannot invert).
    deform_scale: float = 0.45
    # Candidate density levels of the coarse field for the initial surface (one value: that level), chosen by
    # silhouettes as in geometry/surface_level.py. Measured on the 22 public cases: Chamfer 25% below the coarse
    # stage's marching-cubes mesh at a fixed level 2.
    init_levels: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
    init_margin: float = 0.005


class DMTet(torch.nn.Module):
    def __init__(self, config: DMTetConfig):
        super().__init__()
        self.config = config
        vertices, tets = tet_grid(config.resolution)
        self.register_buffer("grid_vertices", vertices, persistent=False)
        self.register_buffer("tets", tets, persistent=False)
        self.sdf = torch.nn.Parameter(vertices.norm(dim=-1) - 0.5)  # a sphere until initialised from a field
        self.deform = torch.nn.Parameter(torch.zeros_like(vertices))

    @property
    def cell(self) -> float:
        return 2.0 / self.config.resolution

    def vertices(self) -> torch.Tensor:
        return self.grid_vertices + torch.tanh(self.deform) * self.config.deform_scale * self.cell

    def mesh(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Surface vertices (M, 3) (differentiable) and outward faces (K, 3)."""
        return marching_tetrahedra(self.vertices(), self.sdf, self.tets)

    def init_from_scene(self, scene) -> float:
        """The surface of a NeRF scene's density at its silhouette-matched level (see ``init_levels``)."""
        from .surface_level import silhouette_agreement

        return self.init_from_density(scene.field(1.0).density, silhouette_agreement(scene))

    @torch.no_grad()
    def init_from_density(self, density_fn, silhouettes=None) -> float:
        """Signed values from a density field (N, 3) -> (N,): log(level) - log(density), negative inside, with
        space the surface encloses counted as inside (as the marching-cubes export does). With several candidate
        levels, ``silhouettes(vertices, faces) -> score`` picks the level (see ``init_levels``); returns it."""
        from ..export.mesh import ExportError, fill_cavities
        from .surface_level import choose_level

        n = self.config.resolution + 1
        density = torch.cat([density_fn(p) for p in self.grid_vertices.split(1 << 16)]).float()
        density[self.grid_vertices.norm(dim=-1) > 1.0] = 0.0

        signed: dict[float, torch.Tensor | None] = {}  # per level, made once (scoring, then the chosen one)

        def sdf_at(level: float) -> torch.Tensor | None:
            if level not in signed:
                filled = None
                if density.max() > level:
                    filled = fill_cavities(density.view(n, n, n).cpu().numpy(), level)
                    filled = torch.from_numpy(np.ascontiguousarray(filled)).reshape(-1).to(self.sdf)
                signed[level] = None if filled is None else np.log(level) - filled.clamp(min=1e-6).log()
            return signed[level]

        def mesh_at(level: float):
            sdf = sdf_at(level)
            return None if sdf is None else marching_tetrahedra(self.grid_vertices, sdf, self.tets)

        levels = self.config.init_levels
        level = levels[0] if len(levels) == 1 else choose_level(levels, mesh_at, silhouettes, self.config.init_margin)
        sdf = None if level is None else sdf_at(level)
        if sdf is None:
            raise ExportError(f"the density never exceeds the levels {levels}: no surface")
        self.sdf.copy_(sdf)
        self.deform.zero_()
        return level

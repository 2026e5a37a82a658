"""DMTet (deformable tetrahedral mesh): a signed value and a bounded offset per vertex of a tetrahedral grid;
the surface is their marching-tetrahedra zero level set, differentiable in both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .tetrahedra import marching_tetrahedra, tet_grid


@dataclass
class DMTetConfig:
    # Grid cells per axis over [-1, 1]³ (6 tetrahedra per cell).
    resolution: int = 32
    # Largest vertex offset, in cells (offsets are tanh-bounded so tetrahedra cannot invert).
    deform_scale: float = 0.45
    # The coarse stage's density level that becomes the surface (the export's isosurface level).
    init_density: float = 2.0


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

    @torch.no_grad()
    def init_from_density(self, density_fn) -> None:
        """Signed values from a density field (N, 3) -> (N,): log(level) - log(density), negative inside, with
        space the surface encloses counted as inside (as the marching-cubes export does)."""
        from ..export.mesh import fill_cavities

        n = self.config.resolution + 1
        density = torch.cat([density_fn(p) for p in self.grid_vertices.split(1 << 16)]).float()
        density[self.grid_vertices.norm(dim=-1) > 1.0] = 0.0
        filled = fill_cavities(density.view(n, n, n).cpu().numpy(), self.config.init_density)
        filled = torch.from_numpy(np.ascontiguousarray(filled)).reshape(-1).to(self.sdf)
        self.sdf.copy_(np.log(self.config.init_density) - filled.clamp(min=1e-6).log())
        self.deform.zero_()

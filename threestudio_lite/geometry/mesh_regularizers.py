"""Smoothness terms of a triangle mesh (Magic3D's refine stage): normal consistency across edges and the
uniform Laplacian."""

from __future__ import annotations

import torch

from ..renderers.rasterizer import edge_neighbours


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    v = vertices[faces]
    return torch.nn.functional.normalize(torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1), dim=-1)


def normal_consistency(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(angle) between the normals of faces sharing an edge (0 for a flat mesh)."""
    if len(faces) == 0:
        return vertices.sum() * 0.0
    neighbours = edge_neighbours(faces)
    face = torch.arange(len(faces), device=faces.device)[:, None].expand_as(neighbours)
    pair = neighbours > face  # each shared edge once
    normals = face_normals(vertices, faces)
    return (1.0 - (normals[face[pair]] * normals[neighbours[pair]]).sum(-1)).mean()


def laplacian_smoothness(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of each vertex from the mean of its edge neighbours."""
    if len(faces) == 0:
        return vertices.sum() * 0.0
    src = faces.reshape(-1)
    dst = faces.roll(-1, dims=1).reshape(-1)
    src, dst = torch.cat([src, dst]), torch.cat([dst, src])  # both directions of every face edge
    total = torch.zeros_like(vertices).index_add(0, src, vertices[dst])
    count = torch.zeros(len(vertices), device=vertices.device).index_add(0, src, torch.ones_like(src, dtype=vertices.dtype))
    used = count > 0
    offset = vertices[used] - total[used] / count[used, None]
    return (offset * offset).sum(-1).mean()

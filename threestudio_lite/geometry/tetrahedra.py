"""Tetrahedral grids and differentiable marching tetrahedra (the mesh side of DMTet), in torch.

The grid: a cube of ``resolution``³ cells, each split into the six tetrahedra along its main diagonal (Kuhn's
decomposition: one per ordering of the axes), so neighbouring cells share faces and the grid is conforming.
Every tetrahedron is stored positively oriented.

Marching tetrahedra: with a signed value per grid vertex (negative inside), each tetrahedron whose vertices
disagree in sign holds one triangle (one or three vertices inside) or a quad as two triangles (two inside);
surface vertices sit on the sign-changing edges at the linear zero crossing, shared between tetrahedra, so the
mesh is watertight and differentiable in both the values and the vertex positions. The triangle table is
derived below from the geometry of one reference tetrahedron (triangles face from inside to outside)."""

from __future__ import annotations

import itertools

import torch

#: The six edges of a tetrahedron as pairs of its local vertices.
TET_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def tet_grid(resolution: int, radius: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices ((resolution + 1)³, 3) spanning [-radius, radius]³ and tetrahedra (6 · resolution³, 4)."""
    n = resolution + 1
    axis = torch.linspace(-radius, radius, n)
    vertices = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    cell = torch.stack(torch.meshgrid(*[torch.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    tets = []
    for order in itertools.permutations(range(3)):
        corners = [torch.zeros(3, dtype=torch.long)]
        for axis_index in order:
            step = corners[-1].clone()
            step[axis_index] = 1
            corners.append(step)
        tets.append(torch.stack(corners))  # (4, 3) corner offsets from 000 to 111
    offsets = torch.stack(tets)  # (6, 4, 3)
    ijk = (cell.unsqueeze(1) + offsets.unsqueeze(0)).reshape(-1, 4, 3)
    index = (ijk[..., 0] * n + ijk[..., 1]) * n + ijk[..., 2]
    return vertices, _positively_oriented(vertices, index)


def _positively_oriented(vertices: torch.Tensor, tets: torch.Tensor) -> torch.Tensor:
    p = vertices[tets]
    volume = torch.linalg.det(torch.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], 1))
    swapped = tets[:, [1, 0, 2, 3]]
    return torch.where((volume < 0)[:, None], swapped, tets)


def _triangle_table() -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the 16 inside-patterns (bit i: local vertex i inside), up to two triangles as triples of
    local edge indices (-1 padded), and the triangle count. Orientation: normals point from inside to outside
    on the positively oriented reference tetrahedron (and so on every positively oriented one)."""
    reference = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    table = torch.full((16, 2, 3), -1, dtype=torch.long)
    counts = torch.zeros(16, dtype=torch.long)
    for code in range(1, 15):
        inside = [v for v in range(4) if code >> v & 1]
        outside = [v for v in range(4) if not code >> v & 1]
        crossing = [e for e, (a, b) in enumerate(TET_EDGES) if (a in inside) != (b in inside)]
        if len(crossing) == 3:
            triangles = [crossing]
        else:  # a quad: order its corners so consecutive edges share a tetrahedron vertex
            (i1, i2), (o1, o2) = inside, outside
            ring = [TET_EDGES.index(tuple(sorted(pair))) for pair in ((i1, o1), (i1, o2), (i2, o2), (i2, o1))]
            triangles = [ring[:3], [ring[0], ring[2], ring[3]]]
        direction = reference[outside].mean(0) - reference[inside].mean(0)
        for t, tri in enumerate(triangles):
            points = torch.stack([reference[list(TET_EDGES[e])].mean(0) for e in tri])
            normal = torch.linalg.cross(points[1] - points[0], points[2] - points[0], dim=-1)
            if (normal * direction).sum() < 0:
                tri = [tri[0], tri[2], tri[1]]
            table[code, t] = torch.tensor(tri)
        counts[code] = len(triangles)
    return table, counts


TRIANGLE_TABLE, TRIANGLE_COUNT = _triangle_table()


def marching_tetrahedra(vertices: torch.Tensor, sdf: torch.Tensor, tets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The zero level set of ``sdf`` (N,) over the tetrahedral grid as a mesh: vertices (M, 3), differentiable in
    ``vertices`` and ``sdf``, and counter-clockwise-outward faces (K, 3)."""
    with torch.no_grad():
        inside = sdf < 0
        code = (inside[tets].long() * torch.tensor([1, 2, 4, 8], device=sdf.device)).sum(-1)
        active = (code > 0) & (code < 15)
        tets, code = tets[active], code[active]
        edges = tets[:, torch.tensor(TET_EDGES, device=tets.device)]  # (T, 6, 2) global vertex pairs
        edges = torch.sort(edges, dim=-1).values
        crosses = inside[edges[..., 0]] != inside[edges[..., 1]]
        key = edges[..., 0] * vertices.shape[0] + edges[..., 1]
        unique, inverse = torch.unique(key[crosses], return_inverse=True)
        local_to_vertex = torch.full(crosses.shape, -1, dtype=torch.long, device=tets.device)
        local_to_vertex[crosses] = inverse
        a, b = unique // vertices.shape[0], unique % vertices.shape[0]
        table = TRIANGLE_TABLE.to(tets.device)[code]  # (T, 2, 3)
        count = TRIANGLE_COUNT.to(tets.device)[code]
        keep = torch.arange(2, device=tets.device)[None] < count[:, None]  # (T, 2)
        tet_of_triangle = torch.arange(len(tets), device=tets.device)[:, None].expand(-1, 2)[keep]
        faces = local_to_vertex[tet_of_triangle[:, None], table[keep]]
    s_a, s_b = sdf[a].unsqueeze(-1), sdf[b].unsqueeze(-1)
    points = (vertices[a] * s_b - vertices[b] * s_a) / (s_b - s_a)
    return points, faces

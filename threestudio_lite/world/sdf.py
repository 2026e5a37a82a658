"""Exact signed distance functions (negative inside) of primitive solids, with rigid motions, uniform scaling
and unions of them: the geometry of the procedural world, evaluated on points (N, 3) in float32.

Every SDF is a frozen (hashable, comparable) dataclass called on points and differentiable by autograd.
Primitives and their transforms are exact inside and outside; a union is exact outside and a lower bound of the
distance inside, which is all sphere tracing and surface projection need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

SDF = Callable[[torch.Tensor], torch.Tensor]
Vec3 = tuple[float, float, float]
Mat3 = tuple[Vec3, Vec3, Vec3]


def _length(v: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the (short) last axis, summed per component (much faster than a reduction on CPU),
    with a zero instead of a NaN gradient at the origin."""
    return torch.sqrt(sum(v[..., k] * v[..., k] for k in range(v.shape[-1])).clamp_min(1e-20))


def _rect_distance(q: torch.Tensor) -> torch.Tensor:
    """Signed distance given per-axis excess q = |p| - half_extent (..., k): exact for axis-aligned boxes."""
    return _length(q.clamp_min(0.0)) + q.amax(-1).clamp_max(0.0)


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distances (N, E) from points p (N, D) to the segments a[e]-b[e] (E, D), in any dimension D."""
    ba = b - a
    pa = [p[:, k : k + 1] - a[:, k] for k in range(p.shape[1])]
    along = sum(pa[k] * ba[:, k] for k in range(len(pa))) / (ba * ba).sum(-1).clamp_min(1e-20)
    h = along.clamp(0.0, 1.0)
    return torch.sqrt(sum((pa[k] - h * ba[:, k]) ** 2 for k in range(len(pa))).clamp_min(1e-20))


def _as_tensor(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


@dataclass(frozen=True)
class Sphere:
    radius: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return _length(p) - self.radius


@dataclass(frozen=True)
class Box:
    """Axis-aligned box centred at the origin with the given half extents."""

    half_extents: Vec3

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return _rect_distance(p.abs() - _as_tensor(self.half_extents))


@dataclass(frozen=True)
class Cylinder:
    """Capped cylinder around the z axis, z in [-half_height, half_height]."""

    radius: float
    half_height: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        q = torch.stack([_length(p[:, :2]) - self.radius, p[:, 2].abs() - self.half_height], -1)
        return _rect_distance(q)


@dataclass(frozen=True)
class Torus:
    """Ring around the z axis lying in the xy-plane: tube of radius ``minor`` around a circle of radius ``major``."""

    major: float
    minor: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        q = torch.stack([_length(p[:, :2]) - self.major, p[:, 2]], -1)
        return _length(q) - self.minor


@dataclass(frozen=True)
class Capsule:
    """All points within ``radius`` of the segment start-end."""

    start: Vec3
    end: Vec3
    radius: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return _segment_distance(p, _as_tensor([self.start]), _as_tensor([self.end]))[:, 0] - self.radius


@dataclass(frozen=True)
class Tube:
    """Hollow cylinder around the z axis: radii in [inner, outer], z in [-half_height, half_height]."""

    inner: float
    outer: float
    half_height: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        mid, half_wall = (self.outer + self.inner) / 2, (self.outer - self.inner) / 2
        q = torch.stack([(_length(p[:, :2]) - mid).abs() - half_wall, p[:, 2].abs() - self.half_height], -1)
        return _rect_distance(q)


def _convex_polygon_distance(q: torch.Tensor, vertices: tuple[tuple[float, float], ...], skip_axis: bool = False):
    """Signed 2D distances (N,) from points q (N, 2) to a convex polygon (vertices in order, either winding).

    Outside: distance to the nearest edge; inside: minus the distance to the nearest edge's line. With
    ``skip_axis`` edges on the line x = 0 are left out (for solids of revolution, where q has x >= 0)."""
    verts = _as_tensor(vertices)
    edges = [(i, (i + 1) % len(vertices)) for i in range(len(vertices))]
    if skip_axis:
        edges = [(i, j) for i, j in edges if vertices[i][0] != 0 or vertices[j][0] != 0]
    a, b = verts[[i for i, _ in edges]], verts[[j for _, j in edges]]
    normals = torch.nn.functional.normalize(torch.stack([b[:, 1] - a[:, 1], a[:, 0] - b[:, 0]], -1), dim=-1)
    outward = torch.where(((verts.mean(0) - a) * normals).sum(-1) < 0, 1.0, -1.0)[:, None] * normals
    to_lines = (q @ outward.T - (a * outward).sum(-1)).amax(-1)
    return torch.where(to_lines <= 0, to_lines, _segment_distance(q, a, b).amin(-1))


@dataclass(frozen=True)
class Revolution:
    """Solid swept by a convex polygon (rho, z) (rho >= 0) turning around the z axis: cones, frustums.

    The distance is the 2D distance to the profile in the point's meridian half-plane, leaving out edges on the
    axis (they are interior to the solid): exact."""

    profile: tuple[tuple[float, float], ...]

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        q = torch.stack([_length(p[:, :2]), p[:, 2]], -1)
        return _convex_polygon_distance(q, self.profile, skip_axis=True)


def cone(radius: float, z_base: float, z_apex: float) -> Revolution:
    """Capped cone around the z axis: a base disk of ``radius`` at z_base, the apex on the axis at z_apex."""
    return Revolution(((0.0, z_base), (radius, z_base), (0.0, z_apex)))


@dataclass(frozen=True)
class Extrusion:
    """Prism of a convex polygon (x, y) extruded along z over [-half_length, half_length] (exact)."""

    profile: tuple[tuple[float, float], ...]
    half_length: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        across = _convex_polygon_distance(p[:, :2], self.profile)
        return _rect_distance(torch.stack([across, p[:, 2].abs() - self.half_length], -1))


@dataclass(frozen=True)
class Pyramid:
    """Square pyramid: base of half side ``half_base`` at z_base with faces towards +-x and +-y, apex at z_apex.

    By symmetry, a point folded into the wedge x >= y >= 0 has its nearest surface point in that wedge: on the
    base square, on the +x face where the point projects onto it, or on the slanted edge towards (b, b): exact."""

    half_base: float
    z_base: float
    z_apex: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        b, z0, z1 = self.half_base, self.z_base, self.z_apex
        ax, ay, z = p[:, 0].abs(), p[:, 1].abs(), p[:, 2]
        x, y = torch.maximum(ax, ay), torch.minimum(ax, ay)
        height = z1 - z0
        nx, nz = height / math.hypot(height, b), b / math.hypot(height, b)  # outward normal of the +x face
        to_plane = x * nx + (z - z1) * nz
        z_on_plane = z - to_plane * nz
        over_face = (z_on_plane >= z0) & (y * height <= b * (z1 - z_on_plane))
        folded = torch.stack([x, y, z], -1)
        to_edge = _segment_distance(folded, _as_tensor([[b, b, z0]]), _as_tensor([[0.0, 0.0, z1]]))[:, 0]
        to_face = torch.where(over_face, to_plane.abs(), to_edge)
        to_base = _length(torch.stack([(x - b).clamp_min(0), (y - b).clamp_min(0), z - z0], -1))
        inside = torch.maximum(to_plane, z0 - z)
        return torch.where(inside <= 0, inside, torch.minimum(to_face, to_base))


def rotation(axis: str, degrees: float) -> Mat3:
    """Rotation matrix (rows) turning points counter-clockwise by ``degrees`` about the world axis 'x', 'y' or 'z'."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = [[float(r == k) for k in range(3)] for r in range(3)]
    m[i][i], m[i][j], m[j][i], m[j][j] = c, -s, s, c
    return tuple(tuple(row) for row in m)


@dataclass(frozen=True)
class Translate:
    sdf: SDF
    offset: Vec3

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self.sdf(p - _as_tensor(self.offset))


@dataclass(frozen=True)
class Rotate:
    """The solid turned by ``matrix`` (local to world, see ``rotation``) about the origin."""

    sdf: SDF
    matrix: Mat3

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self.sdf(p @ _as_tensor(self.matrix))


@dataclass(frozen=True)
class Scale:
    """The solid scaled uniformly about the origin (uniform scaling keeps the SDF exact)."""

    sdf: SDF
    factor: float

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self.factor * self.sdf(p / self.factor)


@dataclass(frozen=True)
class Mirror:
    """The solid together with its mirror images in the planes of the given axes, e.g. "xy" for four copies.

    Exact when the solid lies on the positive side of each mirror plane (each point's nearest copy is then the
    one on its own side)."""

    sdf: SDF
    axes: str

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self.sdf(torch.stack([p[:, k].abs() if "xyz"[k] in self.axes else p[:, k] for k in range(3)], -1))


@dataclass(frozen=True)
class Union:
    parts: tuple[SDF, ...]

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return torch.stack([part(p) for part in self.parts], -1).amin(-1)

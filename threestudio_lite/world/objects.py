"""The catalogue of world objects: coloured parts with exact SDFs, centred at the origin inside the unit sphere,
z up, front facing +x. Each object is the ground truth for one caption and a source of training renders."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import mcubes
import numpy as np
import torch
import trimesh

from .sdf import (
    SDF,
    Box,
    Capsule,
    Cylinder,
    Extrusion,
    Mirror,
    Pyramid,
    Rotate,
    Scale,
    Sphere,
    Torus,
    Translate,
    Tube,
    Union,
    cone,
    rotation,
)

# Clearly distinct, never black (black would hide the shading).
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.16, 0.14),
    "orange": (0.96, 0.54, 0.10),
    "yellow": (0.96, 0.86, 0.18),
    "green": (0.18, 0.66, 0.24),
    "cyan": (0.14, 0.80, 0.86),
    "blue": (0.16, 0.30, 0.88),
    "purple": (0.52, 0.24, 0.76),
    "pink": (0.96, 0.56, 0.76),
    "white": (0.94, 0.94, 0.94),
    "gray": (0.52, 0.52, 0.52),
    "brown": (0.50, 0.32, 0.16),
}

# Uniform scale of a simple shape whose canonical form just fits the unit sphere ("" is the default size).
SIZES: dict[str, float] = {"small": 0.6, "": 0.78, "large": 0.92}


@dataclass(frozen=True)
class Part:
    """One coloured piece of an object."""

    name: str
    sdf: SDF
    color_name: str

    @property
    def rgb(self) -> tuple[float, float, float]:
        return COLORS[self.color_name]


@dataclass(frozen=True)
class WorldObject:
    """An object of the world: its caption words (shape, colour, size, proportion) and its coloured parts.

    ``color_name`` is None for objects with fixed colours (composites); ``front_part`` indexes the part that marks
    the front (+x) of an asymmetric object."""

    shape: str
    parts: tuple[Part, ...]
    color_name: str | None = None
    size: str = ""
    proportion: str = ""
    front_part: int | None = None

    @property
    def front_marker(self) -> Part | None:
        return None if self.front_part is None else self.parts[self.front_part]

    def part_distances(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (N, P) of points (N, 3) to each part."""
        return torch.stack([part.sdf(points) for part in self.parts], -1)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (N,) to the object: exact outside, a bound inside where parts overlap."""
        if len(self.parts) == 1:
            return self.parts[0].sdf(points)
        return self.part_distances(points).amin(-1)

    def color(self, points: torch.Tensor) -> torch.Tensor:
        """RGB (N, 3) in [0, 1]: the colour of the part whose SDF is smallest at each point."""
        palette = torch.tensor([part.rgb for part in self.parts], dtype=torch.float32)
        if len(self.parts) == 1:
            return palette.expand(points.shape[0], 3).clone()
        return palette[self.part_distances(points).argmin(-1)]

    def gradient(self, points: torch.Tensor) -> torch.Tensor:
        """SDF gradient (N, 3) by autograd: the outward unit normal near the surface. Within ~1e-6 of a surface
        made of segment distances (cones, capsules) rounding blurs its direction; see render.sdf_normals."""
        with torch.enable_grad():
            p = points.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.sdf(p).sum(), p)
        return grad

    def project(self, points: torch.Tensor, steps: int = 3) -> torch.Tensor:
        """Points moved onto the surface by Newton steps p - sdf(p) grad(p) (one step is exact outside)."""
        for _ in range(steps):
            grad = self.gradient(points)
            points = points - (self.sdf(points) / (grad * grad).sum(-1).clamp_min(1e-12))[:, None] * grad
        return points

    def sample_surface(
        self, n: int, generator: torch.Generator | None = None, band: float = 0.004, resolution: int = 48
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n points (n, 3) uniformly distributed over the visible surface, and their colours (n, 3).

        Points drawn uniformly in the band |sdf| < band (found via grid cells that can touch it, using that the
        SDF is 1-Lipschitz) are projected onto the surface; points landing on a part's surface hidden inside
        another part are dropped. The density is uniform up to O(band) effects at edges."""
        cells = grid_points(resolution)
        h = 2.0 / resolution
        cells = cells[self.sdf(cells).abs() <= band + 0.5 * math.sqrt(3.0) * h]
        chunks, total = [], 0
        while total < n:
            m = 8 * max(n - total, 1024)
            pick = torch.randint(len(cells), (m,), generator=generator)
            pts = cells[pick] + (torch.rand(m, 3, generator=generator) - 0.5) * h
            pts = self.project(pts[self.sdf(pts).abs() < band])
            pts = pts[self.sdf(pts).abs() < 1e-4]
            chunks.append(pts)
            total += len(pts)
        points = torch.cat(chunks)[:n]
        return points, self.color(points)


@functools.lru_cache(maxsize=16)
def surface_mesh(obj: WorldObject, resolution: int = 128) -> trimesh.Trimesh:
    """Closed outward-facing mesh of an object's surface with per-vertex colours: marching cubes on the SDF
    sampled at the cell centres of ``grid_points(resolution)``, vertices then projected onto the exact surface.
    Sharp edges come out slightly bevelled (by about one cell). The mesh is cached and shared: copy it before
    changing it."""
    values = torch.cat([obj.sdf(chunk) for chunk in grid_points(resolution).split(1 << 18)])
    verts, faces = mcubes.marching_cubes(-values.view((resolution,) * 3).numpy().astype(np.float64), 0.0)
    verts = torch.from_numpy(verts).float() * (2.0 / resolution) - 1.0 + 1.0 / resolution
    verts = obj.project(verts)
    mesh = trimesh.Trimesh(verts.numpy(), faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    mesh.visual.vertex_colors = (obj.color(verts).numpy() * 255).round().astype(np.uint8)
    return mesh


def grid_points(resolution: int) -> torch.Tensor:
    """Cell centres (resolution^3, 3) of a regular grid over [-1, 1]^3, x slowest and z fastest."""
    axis = (torch.arange(resolution, dtype=torch.float32) + 0.5) * (2.0 / resolution) - 1.0
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


# --- simple shapes: canonical forms whose farthest surface point is at radius 1 --------------------------------


def _cylinder(radius: float, half_height: float) -> SDF:
    norm = math.hypot(radius, half_height)
    return Cylinder(radius / norm, half_height / norm)


def _apex_solid(aspect: float) -> tuple[float, float]:
    """Base radius and height of a cone-like solid of height/radius ``aspect`` whose apex and base rim both lie
    on the unit sphere (apex at z = 1)."""
    radius = 2.0 * aspect / (aspect * aspect + 1.0)
    return radius, aspect * radius


def _cone(aspect: float) -> SDF:
    radius, height = _apex_solid(aspect)
    return cone(radius, 1.0 - height, 1.0)


def _pyramid(aspect: float) -> SDF:
    """Square pyramid, faces towards +-x and +-y; ``aspect`` is height over base half-diagonal."""
    half_diagonal, height = _apex_solid(aspect)
    return Pyramid(half_diagonal / math.sqrt(2.0), 1.0 - height, 1.0)


SIMPLE_SHAPES: dict[str, dict[str, SDF]] = {
    "sphere": {"": Sphere(1.0)},
    "cube": {"": Box((1 / math.sqrt(3.0),) * 3)},
    "cylinder": {"": _cylinder(0.75, 0.66), "tall": _cylinder(0.45, 0.9), "flat": _cylinder(0.92, 0.36)},
    "cone": {"": _cone(2.0), "tall": _cone(3.2)},
    "torus": {"": Torus(0.7, 0.3)},
    "capsule": {"": Capsule((0.0, 0.0, -0.55), (0.0, 0.0, 0.55), 0.45)},
    "pyramid": {"": _pyramid(1.5)},
}


def simple_object(shape: str, color: str, size: str = "", proportion: str = "") -> WorldObject:
    """A one-colour primitive, e.g. simple_object("cylinder", "blue", "small", "tall")."""
    if shape not in SIMPLE_SHAPES or proportion not in SIMPLE_SHAPES[shape]:
        raise ValueError(f"no simple shape {proportion + ' ' if proportion else ''}{shape!r}")
    if color not in COLORS or size not in SIZES:
        raise ValueError(f"unknown colour {color!r} or size {size!r}")
    sdf = Scale(SIMPLE_SHAPES[shape][proportion], SIZES[size])
    return WorldObject(shape, (Part(shape, sdf, color),), color, size, proportion)


# --- composite objects, placed directly in world coordinates --------------------------------------------------


def _at(sdf: SDF, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> SDF:
    return Translate(sdf, (x, y, z))


def _dumbbell() -> WorldObject:
    bar = Part("bar", Capsule((0.0, -0.5, 0.0), (0.0, 0.5, 0.0), 0.07), "gray")
    weights = Part("weights", Mirror(_at(Sphere(0.28), y=0.6), "y"), "blue")
    return WorldObject("dumbbell", (weights, bar))


def _table() -> WorldObject:
    top = Part("top", _at(Box((0.58, 0.58, 0.05)), z=0.3), "brown")
    legs = Mirror(_at(Cylinder(0.06, 0.425), 0.4, 0.4, -0.175), "xy")
    return WorldObject("table", (top, Part("legs", legs, "brown")))


def _lollipop() -> WorldObject:
    candy = Part("candy", _at(Rotate(Cylinder(0.36, 0.08), rotation("y", 90.0)), z=0.42), "pink")
    stick = Part("stick", Capsule((0.0, 0.0, -0.85), (0.0, 0.0, 0.3), 0.04), "white")
    return WorldObject("lollipop", (candy, stick))


def _snowman() -> WorldObject:
    body = Union((_at(Sphere(0.4), z=-0.45), _at(Sphere(0.3), z=0.12), _at(Sphere(0.22), z=0.58)))
    nose = _at(Rotate(cone(0.1, 0.15, 0.48), rotation("y", 90.0)), z=0.58)  # cone axis +z turned to +x
    return WorldObject("snowman", (Part("body", body, "white"), Part("nose", nose, "orange")), front_part=1)


def _mug() -> WorldObject:
    cup = Union((Tube(0.39, 0.46, 0.5), _at(Cylinder(0.42, 0.04), z=-0.46)))  # wall and bottom
    corners = ((0.46, 0.0, 0.3), (0.72, 0.0, 0.3), (0.72, 0.0, -0.25), (0.46, 0.0, -0.25))  # ends in the wall
    handle = Union(tuple(Capsule(a, b, 0.06) for a, b in zip(corners, corners[1:])))
    return WorldObject("mug", (Part("cup", cup, "white"), Part("handle", handle, "red")), front_part=1)


def _house() -> WorldObject:
    walls = Part("walls", _at(Box((0.42, 0.5, 0.33)), z=-0.22), "yellow")
    gable = ((-0.5, 0.1), (0.5, 0.1), (0.0, 0.62))  # (x, z), extruded along y
    roof = Rotate(Extrusion(gable, 0.56), rotation("x", 90.0))
    door = Part("door", _at(Box((0.03, 0.12, 0.2)), x=0.42, z=-0.35), "red")
    return WorldObject("house", (walls, Part("roof", roof, "brown"), door), front_part=2)


COMPOSITES = {
    "dumbbell": _dumbbell, "table": _table, "lollipop": _lollipop, "snowman": _snowman, "mug": _mug, "house": _house,
}


@functools.cache
def composite_object(name: str) -> WorldObject:
    if name not in COMPOSITES:
        raise ValueError(f"no composite object {name!r}; expected one of {sorted(COMPOSITES)}")
    return COMPOSITES[name]()


def all_objects() -> list[WorldObject]:
    """Every object of the world: each simple shape in each proportion, colour and size, then the composites."""
    simple = [
        simple_object(shape, color, size, proportion)
        for shape, forms in SIMPLE_SHAPES.items()
        for proportion in forms
        for size in SIZES
        for color in COLORS
    ]
    return simple + [composite_object(name) for name in COMPOSITES]

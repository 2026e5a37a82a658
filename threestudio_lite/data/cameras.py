"""The one camera convention of threestudio-lite, random-view sampling and validation orbits.

Convention (every renderer, the world renderer and the exporters use this module):
- World: right-handed, z up, objects centred at the origin inside the unit sphere.
  An object's *front* faces +x: the camera at azimuth 0 looks at its front.
- Spherical placement: elevation and azimuth in degrees, distance in world units,
  position = distance * (cos(el) cos(az), cos(el) sin(az), sin(el)); azimuth grows counter-clockwise
  seen from above (+x towards +y).
- Camera-to-world matrices ``c2w`` (4x4) in the OpenGL convention: the camera looks along its local
  -z axis, local +y is up in the image and local +x is right.
- Pixels: row i, column j; the pixel centre is at image coordinates (u, v) = (j + 0.5, i + 0.5), u to the
  right, v down. The focal length in pixels is f = H / (2 tan(fovy / 2)) (square pixels).
  The ray through (u, v) has camera-frame direction ((u - W/2) / f, -(v - H/2) / f, -1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def focal_from_fovy(fovy_deg: torch.Tensor, height: int) -> torch.Tensor:
    """Focal length in pixels for a vertical field of view in degrees."""
    return height / (2.0 * torch.tan(torch.deg2rad(fovy_deg) / 2.0))


def spherical_to_position(elevation_deg, azimuth_deg, distance) -> torch.Tensor:
    """Cartesian camera positions (..., 3) from elevation/azimuth in degrees and distance."""
    el = torch.deg2rad(torch.as_tensor(elevation_deg, dtype=torch.float32))
    az = torch.deg2rad(torch.as_tensor(azimuth_deg, dtype=torch.float32))
    d = torch.as_tensor(distance, dtype=torch.float32)
    return torch.stack([d * torch.cos(el) * torch.cos(az), d * torch.cos(el) * torch.sin(az), d * torch.sin(el)], -1)


def look_at(eye: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices (B, 4, 4) for cameras at ``eye`` (B, 3) looking at ``target`` with z up."""
    target = torch.zeros_like(eye) if target is None else target.expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    world_up = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype).expand_as(eye)
    right = torch.linalg.cross(forward, world_up, dim=-1)
    # Straight above or below the target the up vector is undefined: use +x as a stand-in up.
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    alt_up = torch.tensor([1.0, 0.0, 0.0], dtype=eye.dtype).expand_as(eye)
    right = torch.where(degenerate, torch.linalg.cross(forward, alt_up, dim=-1), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    up = torch.linalg.cross(right, forward, dim=-1)
    c2w = torch.zeros(eye.shape[0], 4, 4, dtype=eye.dtype)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = up
    c2w[:, :3, 2] = -forward
    c2w[:, :3, 3] = eye
    c2w[:, 3, 3] = 1.0
    return c2w


@dataclass
class Cameras:
    """A batch of pinhole cameras in the project's convention (see the module docstring)."""

    c2w: torch.Tensor  # (B, 4, 4)
    fovy: torch.Tensor  # (B,) degrees
    elevation: torch.Tensor  # (B,) degrees
    azimuth: torch.Tensor  # (B,) degrees, wrapped to [-180, 180)
    distance: torch.Tensor  # (B,)
    light_positions: torch.Tensor  # (B, 3)
    height: int
    width: int

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, index: slice | torch.Tensor) -> "Cameras":
        """A sub-batch of cameras (a slice or an index tensor)."""
        return Cameras(self.c2w[index], self.fovy[index], self.elevation[index], self.azimuth[index],
                       self.distance[index], self.light_positions[index], self.height, self.width)

    @property
    def positions(self) -> torch.Tensor:
        return self.c2w[:, :3, 3]

    def focal(self) -> torch.Tensor:
        return focal_from_fovy(self.fovy, self.height)

    def intrinsics(self) -> torch.Tensor:
        """(B, 3, 3) matrices K mapping camera-frame points (x, y, -z forward) to pixels, see ``project``."""
        f = self.focal()
        K = torch.zeros(len(self), 3, 3, device=f.device)
        K[:, 0, 0] = f
        K[:, 1, 1] = f
        K[:, 0, 2] = self.width / 2.0
        K[:, 1, 2] = self.height / 2.0
        K[:, 2, 2] = 1.0
        return K

    def full_projection(self) -> torch.Tensor:
        """(B, 3, 4) matrices P = K · diag(1, -1, -1) · [R | t] from homogeneous world points to pixels."""
        w2c = torch.linalg.inv(self.c2w)[:, :3, :]
        flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], device=self.c2w.device))
        return self.intrinsics() @ flip @ w2c

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points (B, N, 3) to pixel coordinates (B, N, 2) as (u, v), and depth (B, N)."""
        homo = torch.cat([points, torch.ones_like(points[..., :1])], -1)
        pix = homo @ self.full_projection().to(points.dtype).transpose(1, 2)
        depth = pix[..., 2]
        return pix[..., :2] / depth.unsqueeze(-1), depth

    def rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Ray origins and unit directions, each (B, H, W, 3), through every pixel centre."""
        v, u = torch.meshgrid(
            torch.arange(self.height, dtype=torch.float32) + 0.5,
            torch.arange(self.width, dtype=torch.float32) + 0.5,
            indexing="ij",
        )
        f = self.focal().view(-1, 1, 1)
        dirs_cam = torch.stack(
            [(u - self.width / 2.0) / f, -(v - self.height / 2.0) / f, -torch.ones_like(u).expand_as(f * u)], -1
        )
        dirs = torch.einsum("bij,bhwj->bhwi", self.c2w[:, :3, :3], dirs_cam)
        dirs = torch.nn.functional.normalize(dirs, dim=-1)
        origins = self.positions.view(-1, 1, 1, 3).expand_as(dirs)
        return origins, dirs

    def to(self, device: torch.device | str) -> "Cameras":
        return Cameras(
            self.c2w.to(device), self.fovy.to(device), self.elevation.to(device), self.azimuth.to(device),
            self.distance.to(device), self.light_positions.to(device), self.height, self.width,
        )

    def with_resolution(self, height: int, width: int) -> "Cameras":
        return Cameras(self.c2w, self.fovy, self.elevation, self.azimuth, self.distance, self.light_positions, height, width)

    def in_similar_frame(self, scale: float, offset: torch.Tensor) -> "Cameras":
        """The same views of a scene mapped by X -> scale (X - offset): positions and lights moved alike, so every
        point is seen at the same pixel (image-to-3D's recentred result vs the truth or the text prior's frame)."""
        offset = torch.as_tensor(offset, dtype=self.c2w.dtype, device=self.c2w.device)
        c2w = self.c2w.clone()
        c2w[:, :3, 3] = scale * (c2w[:, :3, 3] - offset)
        return Cameras(c2w, self.fovy, self.elevation, self.azimuth, self.distance * scale,
                       scale * (self.light_positions - offset), self.height, self.width)


def wrap_azimuth(azimuth_deg: torch.Tensor) -> torch.Tensor:
    """Azimuth wrapped to [-180, 180) degrees."""
    return torch.remainder(azimuth_deg + 180.0, 360.0) - 180.0


def image_plane(camera: Cameras) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Of the first camera: half the frame's height at the look-at point's depth, and its right and up axes."""
    half = float(camera.distance[0]) * math.tan(math.radians(float(camera.fovy[0])) / 2.0)
    return half, camera.c2w[0, :3, 0], camera.c2w[0, :3, 1]


def make_cameras(elevation, azimuth, distance, fovy, height: int, width: int, light_positions=None) -> Cameras:
    """Cameras looking at the origin from spherical positions; by default the light sits at the camera."""
    elevation = torch.as_tensor(elevation, dtype=torch.float32).reshape(-1)
    azimuth = wrap_azimuth(torch.as_tensor(azimuth, dtype=torch.float32).reshape(-1))
    n = max(elevation.numel(), azimuth.numel())
    elevation, azimuth = elevation.expand(n).clone(), azimuth.expand(n).clone()
    distance = torch.as_tensor(distance, dtype=torch.float32).reshape(-1).expand(n).clone()
    fovy = torch.as_tensor(fovy, dtype=torch.float32).reshape(-1).expand(n).clone()
    eye = spherical_to_position(elevation, azimuth, distance)
    lights = eye.clone() if light_positions is None else torch.as_tensor(light_positions, dtype=torch.float32)
    return Cameras(look_at(eye), fovy, elevation, azimuth, distance, lights.reshape(-1, 3).expand(n, 3).clone(), height, width)


@dataclass
class CameraConfig:
    """Ranges of the random-view sampler (threestudio's defaults, rescaled to our unit-sphere world)."""

    elevation_range: tuple[float, float] = (-10.0, 45.0)
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    distance_range: tuple[float, float] = (2.2, 2.6)
    fovy_range: tuple[float, float] = (40.0, 45.0)
    # Half the batches draw elevation uniformly in degrees, half uniformly on the sphere (as threestudio).
    uniform_sphere_prob: float = 0.5
    # Light: at a distance drawn from this range, in the camera's unit direction perturbed by N(0, std)
    # (threestudio perturbs positions 1-1.5 from the origin by N(0, 1): about this angular spread).
    light_distance_range: tuple[float, float] = (2.0, 3.5)
    light_direction_std: float = 0.7
    # Validation / turntable orbit.
    eval_elevation: float = 15.0
    eval_distance: float = 2.4
    eval_fovy: float = 42.5


class CameraSampler:
    """Draws random training views: azimuth stratified over the batch, elevation, distance, fovy, light."""

    def __init__(self, config: CameraConfig):
        self.config = config

    def _uniform(self, rng: tuple[float, float], n: int, generator: torch.Generator) -> torch.Tensor:
        lo, hi = rng
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    def sample(self, batch_size: int, height: int, width: int, generator: torch.Generator) -> Cameras:
        cfg = self.config
        lo, hi = cfg.elevation_range
        if torch.rand((), generator=generator).item() < cfg.uniform_sphere_prob:
            # Uniform on the sphere: sin(elevation) uniform between the range's sines.
            s = self._uniform((math.sin(math.radians(lo)), math.sin(math.radians(hi))), batch_size, generator)
            elevation = torch.rad2deg(torch.asin(s))
        else:
            elevation = self._uniform((lo, hi), batch_size, generator)
        a_lo, a_hi = cfg.azimuth_range
        span = (a_hi - a_lo) / batch_size
        azimuth = a_lo + span * (torch.arange(batch_size) + torch.rand(batch_size, generator=generator))
        distance = self._uniform(cfg.distance_range, batch_size, generator)
        fovy = self._uniform(cfg.fovy_range, batch_size, generator)
        lights = self.lights(spherical_to_position(elevation, azimuth, distance), generator)
        return make_cameras(elevation, azimuth, distance, fovy, height, width, light_positions=lights)

    def lights(self, eye: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Point-light positions (B, 3) scattered around the direction of each camera position ``eye``."""
        cfg = self.config
        direction = torch.nn.functional.normalize(
            torch.nn.functional.normalize(eye, dim=-1) + cfg.light_direction_std * torch.randn(eye.shape, generator=generator),
            dim=-1,
        )
        return direction * self._uniform(cfg.light_distance_range, len(eye), generator).unsqueeze(-1)

    def orbit(self, n_views: int, height: int, width: int, elevation: float | None = None) -> Cameras:
        """Evenly spaced views around the object (validation grids, turntables), starting at the front."""
        cfg = self.config
        azimuth = torch.arange(n_views, dtype=torch.float32) * (360.0 / n_views)
        el = cfg.eval_elevation if elevation is None else elevation
        return make_cameras(torch.full((n_views,), el), azimuth, cfg.eval_distance, cfg.eval_fovy, height, width)

"""Camera features that condition the mini priors.

The text prior sees the absolute camera of the view it denoises (elevation, azimuth, distance, field of
view): knowing exactly where the camera is makes its SDS gradients agree across views, which is what
keeps a cube square and a snowman's nose on one side. A trailing 1 marks a present camera; an all-zero
row is the "no camera" condition used for camera dropout."""

from __future__ import annotations

import torch

from ...data.cameras import CameraConfig, make_cameras

CAMERA_FEATURES = 7
RAY_MAP_CHANNELS = 6


def camera_features(elevation, azimuth, distance, fovy, reference: CameraConfig = CameraConfig()) -> torch.Tensor:
    """(B, 7): sin/cos elevation, sin/cos azimuth, distance and fovy normalised to the sampler's ranges, 1."""
    el = torch.deg2rad(torch.as_tensor(elevation, dtype=torch.float32))
    az = torch.deg2rad(torch.as_tensor(azimuth, dtype=torch.float32))
    d_lo, d_hi = reference.distance_range
    f_lo, f_hi = reference.fovy_range
    d = (torch.as_tensor(distance, dtype=torch.float32) - (d_lo + d_hi) / 2) / max((d_hi - d_lo) / 2, 1e-3)
    f = (torch.as_tensor(fovy, dtype=torch.float32) - (f_lo + f_hi) / 2) / max((f_hi - f_lo) / 2, 1e-3)
    return torch.stack([el.sin(), el.cos(), az.sin(), az.cos(), d, f, torch.ones_like(el)], -1)


def ray_map(features: torch.Tensor, size: int, reference: CameraConfig = CameraConfig()) -> torch.Tensor:
    """(B, 6, size, size) image-shaped camera condition decoded from camera_features rows: each pixel's unit ray
    direction and the ray's point closest to the world origin. A pooled camera vector alone did not teach the
    UNet where a part at world +x lands on screen (sampled handles and noses sat at random azimuths); per pixel,
    that is a local function of these six numbers. Zero where the camera is absent (an all-zero row)."""
    f = features.detach().float().cpu()
    d_lo, d_hi = reference.distance_range
    f_lo, f_hi = reference.fovy_range
    cams = make_cameras(
        torch.rad2deg(torch.atan2(f[:, 0], f[:, 1])), torch.rad2deg(torch.atan2(f[:, 2], f[:, 3])),
        f[:, 4] * max((d_hi - d_lo) / 2, 1e-3) + (d_lo + d_hi) / 2,
        f[:, 5] * max((f_hi - f_lo) / 2, 1e-3) + (f_lo + f_hi) / 2, size, size)
    origins, dirs = cams.rays()
    closest = origins - (origins * dirs).sum(-1, keepdim=True) * dirs
    maps = torch.cat([dirs, closest], -1).permute(0, 3, 1, 2) * f[:, -1].view(-1, 1, 1, 1)
    return maps.to(device=features.device, dtype=features.dtype)


RELATIVE_FEATURES = 9


def relative_camera_features(reference: torch.Tensor, target: torch.Tensor, config: CameraConfig = CameraConfig()) -> torch.Tensor:
    """(B, 9) features of a target camera relative to a reference camera, each given as (B, 4) rows of
    (elevation, azimuth, distance, fovy): sin/cos Δazimuth, Δelevation/45°, reference elevation/45°
    (Zero-1-to-3's relative pose plus the absolute elevation it leaves implicit), both distances and fields
    of view normalised to the sampler's ranges, and a trailing 1 (all zeros = no condition)."""
    d_az = torch.deg2rad(target[:, 1] - reference[:, 1])
    d_lo, d_hi = config.distance_range
    f_lo, f_hi = config.fovy_range

    def norm(v, lo, hi):
        return (v - (lo + hi) / 2) / max((hi - lo) / 2, 1e-3)

    return torch.stack([
        d_az.sin(), d_az.cos(), (target[:, 0] - reference[:, 0]) / 45.0, reference[:, 0] / 45.0,
        norm(target[:, 2], d_lo, d_hi), norm(reference[:, 2], d_lo, d_hi),
        norm(target[:, 3], f_lo, f_hi), norm(reference[:, 3], f_lo, f_hi), torch.ones_like(d_az),
    ], -1)

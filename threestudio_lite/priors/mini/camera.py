"""Camera features that condition the mini priors.

The text prior sees the absolute camera of the view it denoises (elevation, azimuth, distance, field of
view): knowing exactly where the camera is makes its SDS gradients agree across views, which is what
keeps a cube square and a snowman's nose on one side. A trailing 1 marks a present camera; an all-zero
row is the "no camera" condition used for camera dropout."""

from __future__ import annotations

import torch

from ...data.cameras import CameraConfig

CAMERA_FEATURES = 7


def camera_features(elevation, azimuth, distance, fovy, reference: CameraConfig = CameraConfig()) -> torch.Tensor:
    """(B, 7): sin/cos elevation, sin/cos azimuth, distance and fovy normalised to the sampler's ranges, 1."""
    el = torch.deg2rad(torch.as_tensor(elevation, dtype=torch.float32))
    az = torch.deg2rad(torch.as_tensor(azimuth, dtype=torch.float32))
    d_lo, d_hi = reference.distance_range
    f_lo, f_hi = reference.fovy_range
    d = (torch.as_tensor(distance, dtype=torch.float32) - (d_lo + d_hi) / 2) / max((d_hi - d_lo) / 2, 1e-3)
    f = (torch.as_tensor(fovy, dtype=torch.float32) - (f_lo + f_hi) / 2) / max((f_hi - f_lo) / 2, 1e-3)
    return torch.stack([el.sin(), el.cos(), az.sin(), az.cos(), d, f, torch.ones_like(el)], -1)


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

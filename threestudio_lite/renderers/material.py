"""Diffuse material lit by a point light plus ambient light: the one light model used by the optimizer's
renderers and by the procedural world's renderer, so renders and the prior's training images agree."""

from __future__ import annotations

from dataclasses import dataclass

import torch

SHADING_MODES = ("albedo", "lambertian", "textureless", "normal")


@dataclass
class MaterialConfig:
    ambient: float = 0.35
    diffuse: float = 0.65
    # Probability that a training view is shaded with a white albedo (shape from shading only).
    textureless_prob: float = 0.3
    # Probability that a training view shows the bare albedo (no lighting), after the warm-up below.
    albedo_prob: float = 0.0
    # Fraction of a stage's steps at the start that render bare albedo only (DreamFusion's ambient warm-up).
    ambient_only_fraction: float = 0.1


def lambertian(
    albedo: torch.Tensor, normals: torch.Tensor, points: torch.Tensor, light_positions: torch.Tensor,
    ambient: float, diffuse: float,
) -> torch.Tensor:
    """Shaded colour albedo * (ambient + diffuse * max(0, n·l)), l the unit vector from point to light.

    All arguments broadcast over leading dimensions; normals need not be unit length on entry."""
    n = torch.nn.functional.normalize(normals, dim=-1)
    to_light = torch.nn.functional.normalize(light_positions - points, dim=-1)
    cos = (n * to_light).sum(-1, keepdim=True).clamp(min=0.0)
    return albedo * (ambient + diffuse * cos)


def shade(
    mode: str, albedo: torch.Tensor, normals: torch.Tensor, points: torch.Tensor,
    light_positions: torch.Tensor, config: MaterialConfig,
) -> torch.Tensor:
    """Colour of surface samples under one of SHADING_MODES."""
    if mode == "albedo":
        return albedo
    if mode == "normal":
        return normal_colors(torch.nn.functional.normalize(normals, dim=-1), torch.ones_like(albedo[..., :1]))
    if mode == "textureless":
        albedo = torch.ones_like(albedo)
    elif mode != "lambertian":
        raise ValueError(f"unknown shading mode {mode!r}; expected one of {SHADING_MODES}")
    return lambertian(albedo, normals, points, light_positions, config.ambient, config.diffuse)


def normal_colors(normals: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """World-space normals as colours, (n + 1) / 2, for opacity-weighted normals (..., 3) (a volume renderer's
    composited normal, or unit normals with opacity 1): what the geometry prior sees, lights and albedo aside."""
    return (normals + opacity) / 2


def pick_shading(config: MaterialConfig, progress: float, generator: torch.Generator) -> str:
    """Shading mode of one training view at stage progress in [0, 1]."""
    if progress < config.ambient_only_fraction:
        return "albedo"
    u = torch.rand((), generator=generator).item()
    if u < config.textureless_prob:
        return "textureless"
    if u < config.textureless_prob + config.albedo_prob:
        return "albedo"
    return "lambertian"

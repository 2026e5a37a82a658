"""Perp-Neg (Armandpour et al. 2023) against the Janus problem, as threestudio applies it to SDS.

Each camera's positive embedding interpolates the view prompts by azimuth (front↔side for |az| < 90°,
side↔back beyond), and the two view prompts it should not look like are negatives whose guidance is
applied only perpendicular to the positive direction:
    ε = ε_u + s · (e_pos + Σ_i w_i · (e_i − (e_i·e_pos / ‖e_pos‖²) e_pos)),  e = ε_branch − ε_u,
with negative weights w_i = −(a·exp(−b·r) + c) of the interpolation ratio r (threestudio's defaults below).
Overhead views use the overhead prompt and no negatives."""

from __future__ import annotations

import math

import torch

# (a, b, c) of w(r) = a·exp(−b·r) + c for: side → back, front → side → back, front → side, side → front.
F_SIDE_BACK = (1.0, 0.5, -0.606)
F_FRONT_SIDE_BACK = (1.0, 0.5, 0.967)
F_FRONT_SIDE = (4.0, 0.5, -2.426)
F_SIDE_FRONT = (4.0, 0.5, -2.426)


def decay(abc: tuple[float, float, float], r: float) -> float:
    a, b, c = abc
    return a * math.exp(-b * r) + c


def view_mix(elevation: float, azimuth: float, overhead_elevation: float):
    """For one camera: [(view, weight)] of its positive embedding, and [(view, guidance weight)] of its two
    negatives."""
    if elevation > overhead_elevation:
        return [("overhead", 1.0)], [("front", 0.0), ("side", 0.0)]
    az = abs((azimuth + 180.0) % 360.0 - 180.0)
    if az < 90.0:
        r = 1.0 - az / 90.0
        return ([("front", r), ("side", 1.0 - r)],
                [("front", -decay(F_FRONT_SIDE, r)), ("side", -decay(F_SIDE_FRONT, 1.0 - r))])
    r = 2.0 - az / 90.0
    return ([("side", r), ("back", 1.0 - r)],
            [("side", -decay(F_SIDE_BACK, r)), ("front", -decay(F_FRONT_SIDE_BACK, r))])


def perpendicular(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The part of each x (B, ...) perpendicular to the matching y."""
    dot = (x * y).flatten(1).sum(1)
    norm2 = (y * y).flatten(1).sum(1).clamp_min(1e-12)
    return x - (dot / norm2).view(-1, *[1] * (x.ndim - 1)) * y


def perp_neg_guided(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, eps_negatives: list[torch.Tensor],
                    weights: torch.Tensor, scale: float) -> torch.Tensor:
    """Perp-Neg guided ε; ``weights`` (B, K) for the K negative branches."""
    e_pos = eps_cond - eps_uncond
    push = torch.zeros_like(e_pos)
    for i, eps_neg in enumerate(eps_negatives):
        w = weights[:, i].to(e_pos).view(-1, *[1] * (e_pos.ndim - 1))
        push = push + w * perpendicular(eps_neg - eps_uncond, e_pos)
    return eps_uncond + scale * (e_pos + push)

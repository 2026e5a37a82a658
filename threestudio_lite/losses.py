"""Regularizers on renders, each weighted by its own config field (0 turns it off)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .geometry.mesh_regularizers import laplacian_smoothness, normal_consistency
from .schedule import Schedule


@dataclass
class LossConfig:
    sds: Schedule = 1.0
    # Image-to-3D with a prompt: the text prior's SDS (stage.text_guidance), beside the view prior's ``sds``.
    sds_text: Schedule = 0.0
    # Text-to-3D: the normal prior's SDS (stage.normal_guidance) on the random views' normal maps, beside ``sds``.
    sds_normal: Schedule = 0.0
    # DreamFusion's orientation loss: Σ stopgrad(w) max(0, n·d)² per ray (normals facing away from the camera).
    orientation: Schedule = 0.0
    # Opacity sparsity: mean of sqrt(opacity² + 0.01) (keeps the scene from filling with fog).
    sparsity: Schedule = 0.0
    # Opacity entropy: binary entropy of each pixel's opacity (pushes it to 0 or 1).
    opacity_entropy: Schedule = 0.0
    # Smoothness of the rendered surface: squared difference of neighbouring pixels' unit normals / expected
    # depths, where both pixels are covered (threestudio's zero123 normal smoothness; see ``neighbour_variation``).
    normal_smoothness: Schedule = 0.0
    depth_smoothness: Schedule = 0.0
    # Image-to-3D reference view: mean squared error of its colour and of its opacity against the mask.
    ref_rgb: Schedule = 0.0
    ref_mask: Schedule = 0.0
    # Mesh stages: 1 - cos between neighbouring face normals, and the uniform Laplacian (Magic3D's refine stage).
    normal_consistency: Schedule = 0.0
    laplacian: Schedule = 0.0


def orientation(render: dict[str, torch.Tensor]) -> torch.Tensor:
    return render["orientation"].mean()


def sparsity(render: dict[str, torch.Tensor]) -> torch.Tensor:
    return (render["opacity"] ** 2 + 0.01).sqrt().mean()


def opacity_entropy(render: dict[str, torch.Tensor]) -> torch.Tensor:
    o = render["opacity"].clamp(1e-4, 1.0 - 1e-4)
    return -(o * o.log() + (1.0 - o) * (1.0 - o).log()).mean()


def neighbour_variation(image: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontally and vertically neighbouring pixels of ``image`` (B, H, W, C), each
    pair weighted by its smaller opacity, detached: the term smooths the covered surface and leaves the silhouette
    (where a covered pixel meets the background) to the other losses."""
    opacity = opacity.detach()
    total, weight = image.new_zeros(()), image.new_zeros(())
    for dim in (1, 2):
        n = image.shape[dim] - 1
        pair = torch.minimum(opacity.narrow(dim, 0, n), opacity.narrow(dim, 1, n))
        total = total + (pair * (image.narrow(dim, 0, n) - image.narrow(dim, 1, n)).pow(2).sum(-1, keepdim=True)).sum()
        weight = weight + pair.sum()
    return total / weight.clamp_min(1e-6)


def normal_smoothness(render: dict[str, torch.Tensor]) -> torch.Tensor:
    return neighbour_variation(torch.nn.functional.normalize(render["normal"], dim=-1), render["opacity"])


def depth_smoothness(render: dict[str, torch.Tensor]) -> torch.Tensor:
    opacity = render["opacity"]
    return neighbour_variation(render["depth"] / opacity.detach().clamp_min(1e-3), opacity)


def mesh_term(name: str, fn):
    """A term on the rendered mesh itself (mesh stages pass its vertices and faces with the render); computed only
    when its weight is on."""

    def term(render: dict[str, torch.Tensor]) -> torch.Tensor:
        if "mesh_vertices" not in render:
            raise ValueError(f"loss.{name} applies to mesh stages only (representation: mesh)")
        return fn(render["mesh_vertices"], render["mesh_faces"])

    return term


REGULARIZERS = {"orientation": orientation, "sparsity": sparsity, "opacity_entropy": opacity_entropy,
                "normal_smoothness": normal_smoothness, "depth_smoothness": depth_smoothness,
                "normal_consistency": mesh_term("normal_consistency", normal_consistency),
                "laplacian": mesh_term("laplacian", laplacian_smoothness)}

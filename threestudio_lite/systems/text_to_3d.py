"""Text-to-3D (DreamFusion): SDS from a text prior on random views, plus render regularizers; optionally also
SDS from a normal prior on the same views' normal maps (geometry guidance, as RichDreamer's normal-depth prior)."""

from __future__ import annotations

import torch

from ..config import RunConfig, StageConfig
from ..data.cameras import Cameras
from ..errors import UserError
from ..priors.base import TextPrior
from ..priors.loading import load_prior
from ..priors.sds import sds_loss
from ..renderers.material import normal_colors
from ..schedule import ever_positive, value_at
from .distillation import DistillationSystem


def normal_maps(views: dict) -> torch.Tensor:
    """(B, 3, H, W) world-space normal maps of renders over a white background, as the normal prior's
    training images show them (renderers.material.normal_colors)."""
    opacity = views["opacity"]
    return (normal_colors(views["normal"], opacity) + 1.0 - opacity).permute(0, 3, 1, 2)


class TextTo3D(DistillationSystem):
    def __init__(self, config: RunConfig, prior, normal_prior: TextPrior | None = None):
        super().__init__(config, prior)
        self.normal_prior = normal_prior

    @classmethod
    def create(cls, config: RunConfig, device: torch.device) -> "TextTo3D":
        """Check the prompt, load the text prior and, when some stage weights its SDS, the normal prior."""
        if not config.prompt.strip():
            raise UserError("the prompt is empty")
        for i, stage in enumerate(config.stages):
            if stage.normal_views < 0:
                raise UserError(f"stages.{i}.normal_views must be 0 (all views) or more, got {stage.normal_views}")
        prior = load_prior(config.prior, config.prompt, config.camera, device)
        if not any(ever_positive(stage.loss.sds_normal) for stage in config.stages):
            return cls(config, prior)
        return cls(config, prior, load_prior(config.normal_prior, config.prompt, config.camera, device))

    def condition(self, cameras: Cameras):
        return self.prior.condition(self.config.prompt, cameras, self.config.prior.negative_prompt)

    def extra_losses(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator,
                     cams: Cameras, views: dict):
        weight = value_at(stage.loss.sds_normal, progress)
        if self.normal_prior is None or weight <= 0:
            return {}
        n = stage.normal_views or len(cams)
        cond = self.normal_prior.condition(self.config.prompt, cams[:n], self.config.normal_prior.negative_prompt)
        sds, _ = sds_loss(self.normal_prior, normal_maps(views)[:n], cond, stage.normal_guidance, progress, generator)
        return {"sds_normal": (weight, sds)}

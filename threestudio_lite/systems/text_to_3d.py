"""Text-to-3D (DreamFusion): SDS from a text prior on random views, plus render regularizers."""

from __future__ import annotations

import torch

from ..config import RunConfig
from ..data.cameras import Cameras
from ..errors import UserError
from ..priors.loading import load_prior
from .distillation import DistillationSystem


class TextTo3D(DistillationSystem):
    @classmethod
    def create(cls, config: RunConfig, device: torch.device) -> "TextTo3D":
        """Check the prompt, load the text prior."""
        if not config.prompt.strip():
            raise UserError("the prompt is empty")
        return cls(config, load_prior(config.prior, config.prompt, config.camera, device))

    def condition(self, cameras: Cameras):
        return self.prior.condition(self.config.prompt, cameras, self.config.prior.negative_prompt)

"""Text-to-3D (DreamFusion): SDS from a text prior on random views, plus render regularizers."""

from __future__ import annotations

import torch

from .. import losses
from ..config import RunConfig, StageConfig
from ..data.cameras import CameraSampler
from ..priors.base import Prior
from ..priors.sds import sds_loss
from ..renderers.material import pick_shading
from ..schedule import value_at
from .nerf_scene import NerfScene

REPRESENTATIONS = {"nerf": NerfScene}


def build_scene(config: StageConfig) -> torch.nn.Module:
    if config.representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {config.representation!r}; expected one of {sorted(REPRESENTATIONS)}")
    return REPRESENTATIONS[config.representation](config)


class TextTo3D:
    """The objective of a text-to-3D stage: ``loss`` renders a random batch of views and scores it."""

    def __init__(self, config: RunConfig, prior: Prior):
        if not config.prompt.strip():
            raise ValueError("the prompt is empty")
        self.config = config
        self.prior = prior
        self.cameras = CameraSampler(config.camera)

    def build_scene(self, index: int, previous: torch.nn.Module | None) -> torch.nn.Module:
        """Stage ``index``'s scene, started from the previous stage's scene when there is one."""
        scene = build_scene(self.config.stages[index])
        if previous is not None:
            scene.load_state_dict(previous.state_dict())
        return scene

    def loss(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator):
        res = max(8, round(value_at(stage.resolution, progress)))
        cams = self.cameras.sample(stage.batch_size, res, res, generator)
        shading = [pick_shading(stage.material, progress, generator) for _ in range(len(cams))]
        out = scene.render(cams, shading, progress, step=step, generator=generator)
        cond = self.prior.condition(self.config.prompt, cams, self.config.prior.negative_prompt)
        sds, logs = sds_loss(self.prior, out["rgb"].permute(0, 3, 1, 2), cond, stage.guidance, progress, generator)
        total = value_at(stage.loss.sds, progress) * sds
        logs["sds"] = sds.item()
        for name, fn in losses.REGULARIZERS.items():
            weight = value_at(getattr(stage.loss, name), progress)
            if weight > 0:
                value = fn(out)
                total = total + weight * value
                logs[name] = value.item()
        logs["samples"] = int(out["samples_evaluated"])
        return total, logs

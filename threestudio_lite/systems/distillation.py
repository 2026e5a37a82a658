"""What every score-distillation system shares: the scene of each stage, and a loss that renders a batch
of random views, scores it with the prior (SDS, or VSD with a LoRA particle score) and adds the render
regularizers. A system says how the prior is conditioned on those views and may add losses of its own (e.g.
image-to-3D's reference view)."""

from __future__ import annotations

import abc

import torch
import torch.nn.functional as F

from .. import losses
from ..config import RunConfig, StageConfig
from ..data.cameras import Cameras, CameraSampler
from ..errors import UserError
from ..priors.base import Prior
from ..priors.sds import sds_loss
from ..priors.vsd import ParticleScore, prior_unet, vsd_loss
from ..renderers.material import pick_shading
from ..schedule import value_at
from .mesh_scene import MeshScene
from .nerf_scene import LATENT_CHANNELS, NerfScene

REPRESENTATIONS = {"nerf": NerfScene, "mesh": MeshScene}


def build_scene(config: StageConfig) -> torch.nn.Module:
    if config.representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {config.representation!r}; expected one of {sorted(REPRESENTATIONS)}")
    return REPRESENTATIONS[config.representation](config)


class DistillationSystem(abc.ABC):
    """Base of the systems; ``loss`` is one optimization step's objective."""

    def __init__(self, config: RunConfig, prior: Prior):
        self.config = config
        self.prior = prior
        self.cameras = CameraSampler(config.camera)
        # VSD stages: the LoRA estimate of the current stage's renders' score (rebuilt at each stage's start).
        self.particle: ParticleScore | None = None
        for i, stage in enumerate(config.stages):
            if stage.latent_renders and prior.latent_channels != LATENT_CHANNELS:
                raise UserError(f"stage {i} ({stage.name}) renders latents, but the prior ({prior.description}) has "
                                f"no {LATENT_CHANNELS}-channel latent space (a Stable Diffusion prior has)")
            if stage.guidance.mode == "vsd":
                prior_unet(prior)
                if stage.guidance.lora.steps_per_step < 1:
                    raise UserError(f"stages.{i}.guidance.lora.steps_per_step must be at least 1, got "
                                    f"{stage.guidance.lora.steps_per_step}")

    def build_scene(self, index: int, previous: torch.nn.Module | None) -> torch.nn.Module:
        """Stage ``index``'s scene, started from the previous stage's scene when there is one."""
        stage = self.config.stages[index]
        scene = build_scene(stage)
        if stage.latent_renders:
            scene.background.color.copy_(self.white_latent())
        if previous is not None:
            scene.start_from(previous)
        lora = stage.guidance.lora if stage.guidance.mode == "vsd" else None
        if self.particle is not None and not (lora is not None and self.particle.continues_as(lora)):
            self.particle.close()
            self.particle = None
        if lora is not None and self.particle is None:
            self.particle = ParticleScore(self.prior, lora)
        return scene

    def state_dict(self) -> dict:
        """What a checkpoint must keep beside the scene to resume exactly: the VSD LoRA and its optimizer."""
        return {} if self.particle is None else {"particle": self.particle.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.particle is not None:
            self.particle.load_state_dict(state["particle"])

    @torch.no_grad()
    def white_latent(self) -> torch.Tensor:
        """The prior's latent of a white image (the background behind latent renders), averaged over pixels."""
        size = self.prior.image_size
        return self.prior.encode(torch.ones(1, 3, size, size, device=self.prior.device)).float().mean((0, 2, 3)).cpu()

    def preview(self, rgb: torch.Tensor) -> torch.Tensor:
        """Renders (B, H, W, C) as pictures (B, H, W, 3): latent renders are decoded by the prior."""
        if rgb.shape[-1] == 3:
            return rgb
        images = self.prior.decode_latents(rgb.permute(0, 3, 1, 2).to(self.prior.device))
        size = rgb.shape[1:3]
        return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False).permute(0, 2, 3, 1)

    @abc.abstractmethod
    def condition(self, cameras: Cameras):
        """The prior's conditioning for one image per camera."""

    def report(self, scene, run_dir) -> dict:
        """System-specific entries of a finished run's metrics.json; none by default."""
        return {}

    def extra_losses(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator,
                     cams: Cameras, views: dict) -> dict[str, tuple[float, torch.Tensor]]:
        """System-specific terms as {name: (weight, value)}, given the step's random cameras and their renders;
        none by default."""
        return {}

    def random_views(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator,
                     place=None) -> tuple[Cameras, dict]:
        """A batch of random cameras and the scene's renders from them; ``place`` maps the cameras into the scene
        first (a prior whose frame is not the scene's)."""
        res = max(8, round(value_at(stage.resolution, progress)))
        cams = self.cameras.sample(stage.batch_size, res, res, generator)
        if stage.latent_renders:  # latents are not lit
            shading = ["albedo"] * len(cams)
        else:
            shading = [pick_shading(stage.material, progress, generator) for _ in range(len(cams))]
        out = scene.render(cams if place is None else place(cams), shading, progress, step=step, generator=generator)
        return cams, out

    def loss(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator):
        cams, out = self.random_views(scene, stage, step, progress, generator)
        images = out["rgb"].permute(0, 3, 1, 2)
        if self.particle is None:
            sds, logs = sds_loss(self.prior, images, self.condition(cams), stage.guidance, progress, generator,
                                 latents=stage.latent_renders)
        else:
            sds, logs = vsd_loss(self.prior, self.particle, images, self.condition(cams), cams, stage.guidance, progress,
                                 generator, latents=stage.latent_renders)
        total = value_at(stage.loss.sds, progress) * sds
        logs["sds"] = sds.item()
        terms = {name: (value_at(getattr(stage.loss, name), progress), fn) for name, fn in losses.REGULARIZERS.items()}
        for name, (weight, fn) in terms.items():
            if weight > 0:
                value = fn(out)
                total = total + weight * value
                logs[name] = value.item()
        for name, (weight, value) in self.extra_losses(scene, stage, step, progress, generator, cams, out).items():
            total = total + weight * value
            logs[name] = value.item()
        logs["samples"] = int(out["samples_evaluated"])
        return total, logs

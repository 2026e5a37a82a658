"""Image-to-3D (Zero-1-to-3 style): SDS from the view-conditioned prior on random views around the
object, plus colour and mask losses that make the reference view reproduce the input picture."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import RunConfig, StageConfig
from ..data.cameras import Cameras, make_cameras
from ..data.reference_image import ReferenceImage, load_reference_image
from ..priors.loading import load_view_prior
from ..priors.mini.view_prior import Reference
from ..schedule import value_at
from .distillation import DistillationSystem


def downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, S, S) -> (C, size, size), antialiased."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


class ImageTo3D(DistillationSystem):
    def __init__(self, config: RunConfig, prior, reference: ReferenceImage):
        super().__init__(config, prior)
        self.image = reference
        self._targets: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        c = config.image
        self.reference = Reference(reference.rgb, c.elevation, c.azimuth, c.distance, c.fovy)

    @classmethod
    def create(cls, config: RunConfig, device: torch.device) -> "ImageTo3D":
        """Read and preprocess the input picture, load the view-conditioned prior."""
        reference = load_reference_image(config.image)
        return cls(config, load_view_prior(config.prior, device), reference)

    def reference_camera(self, size: int) -> Cameras:
        """The camera the picture is taken from, light at the camera (as `world render` lights its images)."""
        c = self.config.image
        return make_cameras(c.elevation, c.azimuth, c.distance, c.fovy, size, size)

    def condition(self, cameras: Cameras):
        return self.prior.condition(self.reference, cameras)

    def reference_targets(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input colour (size, size, 3) on white and mask (size, size, 1) at a render size (made once per size)."""
        if size not in self._targets:
            self._targets[size] = (downsample(self.image.rgb, size).permute(1, 2, 0),
                                   downsample(self.image.mask[None], size).permute(1, 2, 0))
        return self._targets[size]

    def extra_losses(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator):
        size = max(8, round(value_at(stage.reference_resolution, progress)))
        out = scene.render(self.reference_camera(size), ["lambertian"], progress, generator=generator)
        rgb, mask = self.reference_targets(size)
        return {
            "ref_rgb": (value_at(stage.loss.ref_rgb, progress), F.mse_loss(out["rgb"][0], rgb.to(out["rgb"]))),
            "ref_mask": (value_at(stage.loss.ref_mask, progress), F.mse_loss(out["opacity"][0], mask.to(out["rgb"]))),
        }

    @torch.no_grad()
    def report(self, scene, run_dir) -> dict:
        """The reference view's PSNR against the preprocessed input (64x64), the preprocessing (to align
        the result with a known truth), and ``reference.png``: the input as the optimizer saw it."""
        from ..utils.images import save_image
        from ..world.metrics import psnr

        save_image(self.image.rgba(), run_dir / "reference.png")
        out = scene.render(self.reference_camera(64), ["lambertian"], progress=1.0)
        return {
            "image": self.config.image.path,
            "ref_psnr": round(psnr(out["rgb"][0].cpu(), self.reference_targets(64)[0]), 3),
            "reference": {"magnification": self.image.magnification(), "center": list(self.image.center),
                          "input_size": list(self.image.input_size)},
        }

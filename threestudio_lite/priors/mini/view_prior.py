"""The embedded view-conditioned prior (Zero-1-to-3 style) as a Prior backend.

A UNet2DConditionModel whose input is the noisy target view concatenated with the reference image
(6 channels), conditioned through its class embedding on the target camera relative to the reference.
Classifier-free guidance drops both the reference image and the camera."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from ...data.cameras import CameraConfig, Cameras
from ..base import Prior, guided
from .camera import relative_camera_features
from .models import attach_unet, load_unet_folder, save_unet_folder, unet_eps


@dataclass
class Reference:
    """The input view: an image (3, S, S) in [0, 1] composited on white, and the camera it was taken from."""

    image: torch.Tensor
    elevation: float
    azimuth: float
    distance: float
    fovy: float

    def camera_row(self) -> torch.Tensor:
        return torch.tensor([[self.elevation, self.azimuth, self.distance, self.fovy]], dtype=torch.float32)


@dataclass
class ViewCondition:
    reference: torch.Tensor  # (B, 3, S, S) in [-1, 1]
    cond: torch.Tensor  # (B, 9) relative-camera features
    uncond: torch.Tensor  # (B, 9) zeros


def camera_rows(cameras: Cameras) -> torch.Tensor:
    return torch.stack([cameras.elevation, cameras.azimuth, cameras.distance, cameras.fovy], -1).float()


class MiniViewPrior(Prior):
    def __init__(self, unet: UNet2DConditionModel, scheduler: DDPMScheduler, camera_reference: CameraConfig,
                 name: str = "in memory"):
        attach_unet(self, unet, scheduler, camera_reference)
        self.description = f"embedded mini view-conditioned prior ({name}, {self.image_size}x{self.image_size})"

    @classmethod
    def from_pretrained(cls, path: str | Path, device: torch.device = torch.device("cpu")) -> "MiniViewPrior":
        path = Path(path)
        return cls(*load_unet_folder(path, device), path.name)

    def save_pretrained(self, path: str | Path) -> None:
        save_unet_folder(Path(path), self, "MiniViewPrior")

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2.0 - 1.0

    def condition(self, reference: Reference, cameras: Cameras, negative_prompt: str = "") -> ViewCondition:
        B = len(cameras)
        ref = torch.nn.functional.interpolate(reference.image[None], size=(self.image_size,) * 2, mode="bilinear",
                                              antialias=True, align_corners=False)
        features = relative_camera_features(reference.camera_row().expand(B, 4), camera_rows(cameras),
                                            self.camera_reference).to(self.device)
        return ViewCondition((ref * 2.0 - 1.0).expand(B, -1, -1, -1).to(self.device), features, torch.zeros_like(features))

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond: ViewCondition, guidance_scale: float) -> torch.Tensor:
        """Guided ε; the unconditional branch drops both the reference image and the camera."""
        with_ref = torch.cat([x_t, cond.reference], 1)
        if guidance_scale == 1.0:
            return unet_eps(self.unet, with_ref, x_t, t, cond.cond, self.alphas_cumprod, self.prediction_type)
        without = torch.cat([x_t, torch.zeros_like(cond.reference)], 1)
        eps = unet_eps(self.unet, torch.cat([without, with_ref]), torch.cat([x_t, x_t]), torch.cat([t, t]),
                       torch.cat([cond.uncond, cond.cond]), self.alphas_cumprod, self.prediction_type)
        return guided(*eps.chunk(2), guidance_scale)

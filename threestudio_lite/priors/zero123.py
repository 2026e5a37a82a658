"""Zero-1-to-3 as a Prior backend, in the layout of its public diffusers checkpoints (the diffusers community
Zero1to3 pipeline's): ``unet/`` (latent UNet with 8 input channels: the noisy target latents and the
reference image's latents), ``vae/``, ``image_encoder/`` (CLIPVisionModelWithProjection), ``cc_projection/``
(a linear layer from the CLIP image embedding + 4 camera numbers, 772, to the UNet's 768) and ``scheduler/``.

Conditioning, as the model was trained: the camera is [Δpolar (radians), sin Δazimuth, cos Δazimuth,
Δdistance] of the target relative to the reference (polar = 90° − elevation); Stable Zero123 (same layout, in
its community diffusers conversions) replaces Δdistance by the reference's polar angle in radians. The
reference latents are the VAE posterior's mode, unscaled; classifier-free guidance zeroes both the projected
embedding and the latents."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from ..data.cameras import Cameras
from .base import Prior, guided
from .diffusers_text import eps_from_prediction, visiting
from .mini.view_prior import Reference

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CCProjection(ModelMixin, ConfigMixin):
    """Zero-1-to-3's camera projection: Linear(in_channel, out_channel), saved as ``cc_projection/``."""

    @register_to_config
    def __init__(self, in_channel: int = 772, out_channel: int = 768):
        super().__init__()
        self.projection = torch.nn.Linear(in_channel, out_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


@dataclass
class Zero123Condition:
    embedding: torch.Tensor  # (B, 1, D) projected image embedding + camera
    latents: torch.Tensor  # (B, 4, h, w) reference latents


POSE_CONVENTIONS = ("zero123", "stable-zero123")


def relative_pose(reference: Reference, cameras: Cameras, convention: str = "zero123") -> torch.Tensor:
    """(B, 4): [Δpolar in radians, sin Δazimuth, cos Δazimuth, Δdistance] of the target relative to the
    reference, or for Stable Zero123 [..., reference polar in radians]."""
    if convention not in POSE_CONVENTIONS:
        raise ValueError(f"unknown Zero-1-to-3 pose convention {convention!r}; expected one of {POSE_CONVENTIONS}")
    d_polar = torch.deg2rad(reference.elevation - cameras.elevation)  # (90 - el) - (90 - el_ref)
    d_azimuth = torch.deg2rad(cameras.azimuth - reference.azimuth)
    if convention == "zero123":
        last = cameras.distance - reference.distance
    else:
        last = torch.full_like(d_polar, math.radians(90.0 - reference.elevation))
    return torch.stack([d_polar, torch.sin(d_azimuth), torch.cos(d_azimuth), last], -1)


class Zero123Prior(Prior):
    #: How the camera is given to the projection layer (see ``relative_pose``).
    pose_convention = "zero123"
    #: Whether the CLIP image encoder lives in CPU memory between uses (PriorConfig.cpu_offload).
    encoder_offload = False

    def __init__(self, path: str, device: torch.device, dtype: torch.dtype = torch.float32, local_files_only: bool = False):
        from transformers import CLIPVisionModelWithProjection

        local = {"local_files_only": local_files_only}
        self.dtype = dtype
        load = {"torch_dtype": dtype, **local}
        self.unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", **load).to(device).eval()
        self.vae = AutoencoderKL.from_pretrained(path, subfolder="vae", **load).to(device).eval()
        self.image_encoder = CLIPVisionModelWithProjection.from_pretrained(
            path, subfolder="image_encoder", dtype=dtype, **local).to(device).eval()
        self.cc_projection = CCProjection.from_pretrained(path, subfolder="cc_projection", **load).to(device).eval()
        for module in (self.unet, self.vae, self.image_encoder, self.cc_projection):
            module.requires_grad_(False)
        if self.unet.config.in_channels != 2 * self.unet.config.out_channels:
            raise OSError(f"{path}: not a Zero-1-to-3 UNet (in_channels {self.unet.config.in_channels}, "
                          f"expected twice its {self.unet.config.out_channels} output channels)")
        scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler", **local)
        self.prediction_type = scheduler.config.prediction_type
        self.alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
        self.image_size = self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)
        self._encoded: tuple[Reference, torch.Tensor, torch.Tensor] | None = None
        self.description = f"Zero-1-to-3 view-conditioned prior from {Path(path).name or path} ({self.image_size}x{self.image_size})"

    @property
    def encoder(self) -> torch.nn.Module:
        return self.image_encoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] renders to scaled latents (the target side of the diffusion)."""
        return self.vae.encode((images * 2.0 - 1.0).to(self.dtype)).latent_dist.mean * self.vae.config.scaling_factor

    def _clip_embedding(self, image: torch.Tensor) -> torch.Tensor:
        """(1, D) CLIP image embedding of a [0, 1] image (3, S, S), with CLIP's 224 px bicubic preprocessing."""
        size = self.image_encoder.config.image_size
        x = F.interpolate(image[None].float(), size=(size, size), mode="bicubic", align_corners=True).clamp(0, 1)
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(self.device, self.dtype)
        with visiting(self.image_encoder, self.device, self.encoder_offload) as encoder:
            return encoder(x).image_embeds

    @torch.no_grad()
    def _encode_reference(self, reference: Reference) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP embedding (1, D) and VAE latents (1, 4, h, w) of the reference, computed once per reference."""
        if self._encoded is None or self._encoded[0] is not reference:
            image = F.interpolate(reference.image[None].float(), size=(self.image_size,) * 2, mode="bilinear",
                                  antialias=True, align_corners=False)
            latents = self.vae.encode((image * 2.0 - 1.0).to(self.device, self.dtype)).latent_dist.mode()
            self._encoded = (reference, self._clip_embedding(reference.image), latents)
        return self._encoded[1], self._encoded[2]

    def condition(self, reference: Reference, cameras: Cameras, negative_prompt: str = "") -> Zero123Condition:
        B = len(cameras)
        clip, latents = self._encode_reference(reference)
        with torch.no_grad():
            pose = relative_pose(reference, cameras, self.pose_convention).to(self.device, self.dtype)
            embedding = self.cc_projection(torch.cat([clip.expand(B, -1), pose], -1)[:, None, :])
        return Zero123Condition(embedding, latents.expand(B, -1, -1, -1))

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Zero123Condition, guidance_scale: float) -> torch.Tensor:
        B = x_t.shape[0]
        zeros = torch.zeros_like
        inputs = torch.cat([torch.cat([x_t, zeros(cond.latents)], 1), torch.cat([x_t, cond.latents], 1)]).to(self.dtype)
        states = torch.cat([zeros(cond.embedding), cond.embedding])
        pred = self.unet(inputs, torch.cat([t, t]), encoder_hidden_states=states).sample.float()
        a = self.alphas_cumprod[torch.cat([t, t])].view(-1, 1, 1, 1)
        eps = eps_from_prediction(pred, torch.cat([x_t, x_t]).float(), a, self.prediction_type)
        return guided(eps[:B], eps[B:], guidance_scale)

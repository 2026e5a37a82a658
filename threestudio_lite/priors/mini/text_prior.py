"""The embedded mini text prior as a Prior backend: a camera-conditioned pixel-space UNet at 32x32.

Folder layout (written by ``train-prior text``): ``unet/`` (UNet2DConditionModel), ``text_encoder/``
(MiniTextEncoder), ``tokenizer/vocab.json``, ``scheduler/`` (DDPMScheduler) and ``model_index.json``.
The UNet's condition vector is [pooled text embedding | camera features]; a UNet with 9 input channels also
sees the camera as a per-pixel ray map beside the noisy image (camera.ray_map)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from ...data.cameras import CameraConfig, Cameras
from ..base import TextCondition, TextPrior
from .camera import CAMERA_FEATURES, RAY_MAP_CHANNELS, camera_features, ray_map
from .models import attach_unet, load_unet_folder, save_unet_folder, unet_eps
from .text_encoder import MiniTextEncoder
from .tokenizer import WordTokenizer


class MiniTextPrior(TextPrior):
    def __init__(self, unet: UNet2DConditionModel, text_encoder: MiniTextEncoder, tokenizer: WordTokenizer,
                 scheduler: DDPMScheduler, camera_reference: CameraConfig, name: str = "in memory"):
        super().__init__()
        self.text_encoder, self.tokenizer = text_encoder, tokenizer
        attach_unet(self, unet, scheduler, camera_reference)
        self.description = f"embedded mini text prior ({name}, {self.image_size}x{self.image_size}, camera-conditioned)"

    @classmethod
    def from_pretrained(cls, path: str | Path, device: torch.device = torch.device("cpu")) -> "MiniTextPrior":
        path = Path(path)
        unet, scheduler, reference = load_unet_folder(path, device)
        encoder = MiniTextEncoder.from_pretrained(path, subfolder="text_encoder").to(device).eval().requires_grad_(False)
        return cls(unet, encoder, WordTokenizer.from_pretrained(path / "tokenizer"), scheduler, reference, path.name)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the prior folder (safetensors weights, configs, vocabulary)."""
        path = Path(path)
        save_unet_folder(path, self, "MiniTextPrior")
        self.text_encoder.save_pretrained(path / "text_encoder")
        self.tokenizer.save_pretrained(path / "tokenizer")

    def unknown_words(self, text: str) -> list[str]:
        return self.tokenizer.unknown_words(text)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenizer(texts)
        return self.text_encoder(ids.to(self.device), mask.to(self.device))[1]

    def camera_condition(self, cameras: Cameras) -> torch.Tensor:
        return camera_features(cameras.elevation, cameras.azimuth, cameras.distance, cameras.fovy,
                               self.camera_reference).to(self.device)

    def condition(self, prompt: str, cameras: Cameras, negative_prompt: str = "") -> TextCondition:
        cams = self.camera_condition(cameras)
        return super().condition(prompt, cameras, negative_prompt).map(lambda e: torch.cat([e, cams], -1))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2.0 - 1.0

    def unguided_eps(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        inputs = x_t
        if self.unet.config.in_channels == x_t.shape[1] + RAY_MAP_CHANNELS:
            rays = ray_map(embeddings[:, -CAMERA_FEATURES:], x_t.shape[-1], self.camera_reference)
            inputs = torch.cat([x_t, rays.to(x_t.dtype)], 1)
        return unet_eps(self.unet, inputs, x_t, t, embeddings, self.alphas_cumprod, self.prediction_type)

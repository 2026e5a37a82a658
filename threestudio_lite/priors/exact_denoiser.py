"""A training-free prior whose score is known: the exact denoiser of a finite set of captioned images.

For data uniform over images {x_k} with captions {y_k}, E[x0 | x_t, y] is the softmax-weighted mean
of the images captioned y, with logits -‖x_t - sqrt(ᾱ_t) x_k‖² / (2 (1 - ᾱ_t)); the empty caption
(unconditional) uses every image. ε̂ = (x_t - sqrt(ᾱ_t) E[x0 | x_t]) / sqrt(1 - ᾱ_t).
It is the test oracle for SDS arithmetic and the honest stand-in prior when no trained prior is shipped."""

from __future__ import annotations

import torch

from .base import TextPrior


class ExactDenoiserPrior(TextPrior):
    def __init__(self, images: torch.Tensor, captions: list[str], num_train_timesteps: int = 1000,
                 description: str | None = None, view_dependent: bool = True):
        """``images`` (K, 3, S, S) in [0, 1]; ``captions[k]`` is the full text that selects image k."""
        super().__init__()
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] != len(captions):
            raise ValueError("images must be (K, 3, S, S) with one caption per image")
        self.images = images.float() * 2.0 - 1.0
        self.captions = list(captions)
        self.image_size = images.shape[-1]
        self.view_dependent = view_dependent
        from diffusers import DDPMScheduler

        scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2")
        self.alphas_cumprod = scheduler.alphas_cumprod.float()
        self.description = description or f"exact denoiser over {len(captions)} captioned images ({self.image_size}x{self.image_size})"

    def to(self, device: torch.device) -> "ExactDenoiserPrior":
        self.images = self.images.to(device)
        self.alphas_cumprod = self.alphas_cumprod.to(device)
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2.0 - 1.0

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Membership masks (N, K): which images a text selects; '' selects all of them."""
        masks = []
        for text in texts:
            mask = torch.tensor([text == "" or c == text for c in self.captions], dtype=torch.bool)
            if not mask.any():
                raise ValueError(f"the exact-denoiser prior has no image captioned {text!r}")
            masks.append(mask)
        return torch.stack(masks)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t] (flattened, (B, 3·S·S)) over the images each row of ``masks`` (B, K) selects."""
        a = self.alphas_cumprod[t].view(-1, 1)
        xt = x_t.flatten(1)
        flat = self.images.flatten(1)
        dist2 = (xt * xt).sum(1, keepdim=True) - 2.0 * a.sqrt() * xt @ flat.T + a * (flat * flat).sum(1)[None]
        logits = (-dist2 / (2.0 * (1.0 - a))).masked_fill(~masks, float("-inf"))
        return torch.softmax(logits, dim=1) @ flat

    def unguided_eps(self, x_t: torch.Tensor, t: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t].view(-1, 1)
        x0 = self.denoise(x_t, t, masks)
        return ((x_t.flatten(1) - a.sqrt() * x0) / (1.0 - a).sqrt()).view_as(x_t)

"""Deterministic DDIM sampling through the Prior interface (sample grids, quality checks)."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler

from .base import Prior


def ddim_scheduler(alphas_cumprod: torch.Tensor) -> DDIMScheduler:
    """A DDIM scheduler on exactly the prior's noise schedule (betas recovered from ᾱ)."""
    a = alphas_cumprod.double().cpu()
    betas = 1.0 - a / torch.cat([torch.ones(1, dtype=a.dtype), a[:-1]])
    return DDIMScheduler(num_train_timesteps=len(a), trained_betas=betas.clamp(0, 0.999).tolist(), clip_sample=True,
                         set_alpha_to_one=True, prediction_type="epsilon")


@torch.no_grad()
def sample(prior: Prior, cond, batch: int, steps: int = 25, guidance_scale: float = 3.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (B, 3, S, S) in [0, 1] drawn from a pixel-space prior under ``cond``."""
    scheduler = ddim_scheduler(prior.alphas_cumprod)
    scheduler.set_timesteps(steps)
    S = prior.image_size
    x = torch.randn(batch, 3, S, S, generator=generator).to(prior.device)
    for t in scheduler.timesteps:
        eps = prior.predict_noise(x, t.expand(batch).to(prior.device), cond, guidance_scale)
        x = scheduler.step(eps, t, x).prev_sample
    return ((x + 1.0) / 2.0).clamp(0, 1)

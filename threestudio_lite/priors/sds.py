"""Score distillation sampling, written once over the Prior interface.

For a render x with x0 = encode(x), a timestep t ~ U[t_min·T, t_max·T] and noise ε,
x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε and the SDS gradient on x0 is w(t) (ε̂(x_t, t, y) - ε).
It reaches autograd as the loss 0.5 ‖x0 - stopgrad(x0 - g)‖² summed over pixels and averaged over the
batch, so each image's x0 receives exactly g / B."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..schedule import Schedule, value_at
from .base import Prior

WEIGHTINGS = ("sds", "uniform")


@dataclass
class SDSConfig:
    guidance_scale: Schedule = 20.0
    t_min: Schedule = 0.02
    t_max: Schedule = 0.98
    # "sds": w(t) = 1 - ᾱ_t (DreamFusion); "uniform": w(t) = 1.
    weighting: str = "sds"
    # Clip each element of w(t)(ε̂ - ε) to ±grad_clip (0: no clipping).
    grad_clip: Schedule = 0.0


def resize_for_prior(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size), antialiased when shrinking."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def timestep_weight(alphas_cumprod_t: torch.Tensor, weighting: str) -> torch.Tensor:
    if weighting == "sds":
        return 1.0 - alphas_cumprod_t
    if weighting == "uniform":
        return torch.ones_like(alphas_cumprod_t)
    raise ValueError(f"unknown SDS weighting {weighting!r}; expected one of {WEIGHTINGS}")


def sample_timesteps(prior: Prior, batch: int, t_min: float, t_max: float, generator: torch.Generator) -> torch.Tensor:
    T = prior.num_train_timesteps
    lo = max(1, min(T - 1, int(t_min * T)))
    hi = max(lo, min(T - 1, int(t_max * T)))
    return torch.randint(lo, hi + 1, (batch,), generator=generator)


def sds_loss(
    prior: Prior, images: torch.Tensor, cond, config: SDSConfig, progress: float, generator: torch.Generator,
    latents: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """SDS loss for images (B, 3, H, W) in [0, 1], or with ``latents`` for renders of the prior's latents
    (B, C, H, W); returns the loss and a few numbers to log."""
    if latents:
        x0 = prior.latents_from_render(images.to(prior.device))
    else:
        x0 = prior.encode(resize_for_prior(images, prior.image_size).to(prior.device))
    B = x0.shape[0]
    t = sample_timesteps(prior, B, value_at(config.t_min, progress), value_at(config.t_max, progress), generator)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    t = t.to(prior.device)
    a = prior.alphas_cumprod[t].view(B, 1, 1, 1).to(x0.dtype)
    with torch.no_grad():
        x_t = a.sqrt() * x0.detach() + (1.0 - a).sqrt() * noise
        eps = prior.predict_noise(x_t, t, cond, value_at(config.guidance_scale, progress))
        grad = timestep_weight(a, config.weighting) * (eps - noise)
        clip = value_at(config.grad_clip, progress)
        if clip > 0:
            grad = grad.clamp(-clip, clip)
        grad = torch.nan_to_num(grad)
        target = x0.detach() - grad
    loss = 0.5 * F.mse_loss(x0, target, reduction="sum") / B
    return loss, {"sds_grad_norm": grad.norm().item() / B, "t_mean": t.float().mean().item()}

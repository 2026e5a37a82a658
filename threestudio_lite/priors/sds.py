"""Score distillation, written once over the Prior interface.

For a render x with x0 = encode(x), a timestep t ~ U[t_min·T, t_max·T] and noise ε,
x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε and the gradient on x0 is w(t) (ε̂(x_t, t, y) - b) with the baseline
b = ε (SDS, DreamFusion) or b = the renders' own score ε_φ(x_t, t, y, c) (VSD, ProlificDreamer; priors/vsd.py).
It reaches autograd as the loss 0.5 ‖x0 - stopgrad(x0 - g)‖² summed over pixels and averaged over the
batch, so each image's x0 receives exactly g / B."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
import torch.nn.functional as F

from ..schedule import Schedule, value_at
from .base import Prior, noised

WEIGHTINGS = ("sds", "uniform")


@dataclass
class LoRAConfig:
    """VSD's estimate of the renders' score: a LoRA on the prior's UNet plus a camera embedding (priors/vsd.py)."""

    rank: int = 4
    alpha: float = 4.0
    # Module names (diffusers UNet) that get adapters: attention projections and the resnets' convolutions
    # (the embedded prior's UNet has attention only in its middle block).
    target_modules: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2"])
    lr: float = 1e-3
    # Classifier-free guidance of the LoRA's own prediction in the VSD gradient (ProlificDreamer: 1, none).
    guidance_scale: float = 1.0
    # Fraction of LoRA training images whose camera is dropped, so the unconditional branch is trained too.
    camera_dropout: float = 0.1
    # LoRA updates per 3D update (at least 1): the first on the VSD gradient's own noisy renders, sharing its
    # forward pass; any more on the same renders at fresh timesteps.
    steps_per_step: int = 1
    # Continue the previous stage's LoRA when that stage was VSD with the same LoRA settings: it already knows
    # the object's renders, where a new one would start as a copy of the prior.
    continue_previous_stage: bool = False


@dataclass
class SDSConfig:
    # "sds": score distillation sampling; "vsd": variational score distillation (lora below).
    mode: Literal["sds", "vsd"] = "sds"
    guidance_scale: Schedule = 20.0
    t_min: Schedule = 0.02
    t_max: Schedule = 0.98
    # "sds": w(t) = 1 - ᾱ_t (DreamFusion); "uniform": w(t) = 1.
    weighting: str = "sds"
    # Clip each element of w(t)(ε̂ - ε) to ±grad_clip (0: no clipping).
    grad_clip: Schedule = 0.0
    lora: LoRAConfig = field(default_factory=LoRAConfig)


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


def encode_renders(prior: Prior, images: torch.Tensor, latents: bool) -> torch.Tensor:
    """The diffusion model's x0 of renders (B, C, H, W): images in [0, 1], or with ``latents`` the prior's latents."""
    if latents:
        return prior.latents_from_render(images.to(prior.device))
    return prior.encode(resize_for_prior(images, prior.image_size).to(prior.device))


def add_noise(prior: Prior, x0: torch.Tensor, t_min: float, t_max: float, generator: torch.Generator):
    """Timesteps t ~ U[t_min·T, t_max·T] (B,), noise ε, ᾱ_t (B, 1, 1, 1) and x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε
    for detached x0 (B, C, H, W); t then ε are drawn from ``generator``."""
    t = sample_timesteps(prior, x0.shape[0], t_min, t_max, generator)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    t = t.to(prior.device)
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1).to(x0.dtype)
    return t, noise, a, noised(a, x0.detach(), noise)


#: The baseline b(x_t, t, ε) subtracted from the prior's guided ε̂ (detached); None for SDS's ε itself.
Baseline = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None


def distillation_loss(
    prior: Prior, x0: torch.Tensor, cond, config: SDSConfig, progress: float, generator: torch.Generator,
    baseline: Baseline = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The score-distillation loss on x0 (B, C, H, W) with gradient w(t) (ε̂ - b), b the sampled noise or
    ``baseline(x_t, t, ε)`` (called outside no_grad, so it may train on the sample); returns the loss and a few
    numbers to log."""
    B = x0.shape[0]
    t, noise, a, x_t = add_noise(prior, x0, value_at(config.t_min, progress), value_at(config.t_max, progress), generator)
    b = noise if baseline is None else baseline(x_t, t, noise).detach()
    with torch.no_grad():
        eps = prior.predict_noise(x_t, t, cond, value_at(config.guidance_scale, progress))
        grad = timestep_weight(a, config.weighting) * (eps - b)
        clip = value_at(config.grad_clip, progress)
        if clip > 0:
            grad = grad.clamp(-clip, clip)
        grad = torch.nan_to_num(grad)
        target = x0.detach() - grad
    loss = 0.5 * F.mse_loss(x0, target, reduction="sum") / B
    return loss, {"sds_grad_norm": grad.norm().item() / B, "t_mean": t.float().mean().item()}


def sds_loss(
    prior: Prior, images: torch.Tensor, cond, config: SDSConfig, progress: float, generator: torch.Generator,
    latents: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """SDS loss for images (B, 3, H, W) in [0, 1], or with ``latents`` for renders of the prior's latents
    (B, C, H, W); returns the loss and a few numbers to log."""
    return distillation_loss(prior, encode_renders(prior, images, latents), cond, config, progress, generator)

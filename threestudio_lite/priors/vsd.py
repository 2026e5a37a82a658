"""Variational score distillation (ProlificDreamer), written once over the Prior interface.

The renders' own score ε_φ(x_t, t, y, c) is the prior's UNet with a LoRA (peft, through diffusers' adapter API)
and a camera embedding added to its timestep embedding. It starts as an exact copy of the prior (zero-initialised
LoRA up-projections and camera output layer) and is trained on the current renders with the diffusion loss,
alternating with the 3D update, whose gradient is w(t) (ε_pretrained(x_t, y) − ε_φ(x_t, y, c))
(sds.distillation_loss with ε_φ as the baseline). Any backend whose noise predictor is a diffusers UNet in
``prior.unet`` works: the embedded priors, Stable Diffusion, DeepFloyd IF, Zero-1-to-3."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..data.cameras import Cameras
from ..errors import UserError
from ..trainer import optimizer_step
from .base import Prior, TextCondition
from .sds import LoRAConfig, SDSConfig, add_noise, distillation_loss, encode_renders

ADAPTER = "vsd"
CAMERA_INPUTS = 12


def camera_vector(cameras: Cameras) -> torch.Tensor:
    """(B, 12): the camera-to-world matrix's rotation and position (ProlificDreamer's camera condition)."""
    return cameras.c2w[:, :3, :4].reshape(len(cameras), CAMERA_INPUTS)


def plain_condition(cond):
    """The condition without Perp-Neg's negative views: the LoRA models the renders under the prompt alone."""
    if isinstance(cond, TextCondition) and cond.negatives is not None:
        return TextCondition(cond.cond, cond.uncond)
    return cond


def prior_unet(prior: Prior) -> torch.nn.Module:
    """The diffusers UNet a particle score is made from; UserError for a prior without one."""
    unet = getattr(prior, "unet", None)
    if unet is None or not hasattr(unet, "add_adapter") or not hasattr(unet, "time_embedding"):
        raise UserError(f"VSD needs a prior whose noise predictor is a diffusers UNet; {prior.description} has none")
    return unet


class ParticleScore:
    """ε_φ: a LoRA copy of the prior's UNet, conditioned on the camera, fitted to the current renders."""

    def __init__(self, prior: Prior, config: LoRAConfig):
        from peft import LoraConfig

        unet = prior_unet(prior)
        self.prior, self.unet, self.config = prior, unet, config
        if ADAPTER in (getattr(unet, "peft_config", None) or {}):
            unet.delete_adapters(ADAPTER)  # a new stage starts a new particle score
        unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=list(config.target_modules),
                                    init_lora_weights=True), adapter_name=ADAPTER)
        self.lora = {name: p for name, p in unet.named_parameters() if f"lora_A.{ADAPTER}" in name or f"lora_B.{ADAPTER}" in name}
        dim = unet.time_embedding.linear_2.out_features
        self.camera = torch.nn.Sequential(torch.nn.Linear(CAMERA_INPUTS, dim), torch.nn.SiLU(), torch.nn.Linear(dim, dim))
        torch.nn.init.zeros_(self.camera[2].weight)
        torch.nn.init.zeros_(self.camera[2].bias)
        self.camera.to(prior.device)
        self.optimizer = torch.optim.AdamW([*self.lora.values(), *self.camera.parameters()], lr=config.lr, weight_decay=0.0)
        self._cameras: torch.Tensor | None = None
        self._keep: torch.Tensor | None = None
        self._hook = unet.time_embedding.register_forward_hook(self._add_camera)
        unet.disable_adapters()  # the prior itself stays the pretrained model outside ``active``

    def _add_camera(self, module, inputs, output: torch.Tensor) -> torch.Tensor:
        """Adds the camera embedding to the timestep embedding of every image; guidance's unconditional branch
        (the first of two stacked batches) gets none, as in training with camera dropout."""
        if self._cameras is None:
            return output
        emb = self.camera(self._cameras) * self._keep[:, None]
        branches = output.shape[0] // emb.shape[0]
        if branches == 2:
            emb = torch.cat([torch.zeros_like(emb), emb])
        return output + emb.to(output.dtype)

    @contextmanager
    def active(self, cameras: torch.Tensor, keep: torch.Tensor | None = None):
        """The UNet as ε_φ for the block: adapters on, the camera embedding of ``cameras`` (B, 12) added."""
        self.unet.enable_adapters()
        self._cameras = cameras.to(self.prior.device, torch.float32)
        self._keep = torch.ones(len(cameras), device=self.prior.device) if keep is None else keep.to(self.prior.device)
        try:
            yield
        finally:
            self._cameras = self._keep = None
            self.unet.disable_adapters()

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, cond, cameras: torch.Tensor) -> torch.Tensor:
        """ε_φ(x_t, t, y, c) with the LoRA's own classifier-free guidance."""
        with self.active(cameras):
            return self.prior.predict_noise(x_t, t, plain_condition(cond), self.config.guidance_scale)

    def continues_as(self, lora: LoRAConfig) -> bool:
        """Whether a stage with ``lora`` keeps this LoRA: asked to, and the same settings otherwise."""
        return lora.continue_previous_stage and replace(self.config, continue_previous_stage=True) == lora

    def fit(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, cond, cameras: torch.Tensor,
            generator: torch.Generator) -> tuple[torch.Tensor, float]:
        """One diffusion-loss update of the LoRA and camera embedding on x_t = noised renders (detached); returns
        ε_φ(x_t) from before the update (its forward pass is the update's) and the loss. The camera is dropped
        for ``camera_dropout`` of the images, which then get the LoRA's camera-free prediction."""
        guided = self.eps(x_t, t, cond, cameras) if self.config.guidance_scale != 1.0 else None
        keep = (torch.rand(x_t.shape[0], generator=generator) >= self.config.camera_dropout).float()
        with self.active(cameras, keep):
            eps = self.prior.predict_noise(x_t, t, plain_condition(cond), 1.0)
            loss = F.mse_loss(eps.float(), noise.float())
            optimizer_step(self.optimizer, loss, " in the VSD LoRA")
        return (eps.detach() if guided is None else guided), loss.item()

    def train_step(self, x0: torch.Tensor, cond, cameras: torch.Tensor, generator: torch.Generator) -> float:
        """One diffusion-loss update of the LoRA and camera embedding on renders x0 (detached), t ~ U[0, T)."""
        t, noise, _, x_t = add_noise(self.prior, x0, 0.0, 1.0, generator)
        return self.fit(x_t, t, noise, cond, cameras, generator)[1]

    def state_dict(self) -> dict:
        return {"lora": {k: p.detach().clone() for k, p in self.lora.items()}, "camera": self.camera.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for k, p in self.lora.items():
                p.copy_(state["lora"][k])
        self.camera.load_state_dict(state["camera"])
        self.optimizer.load_state_dict(state["optimizer"])

    def close(self) -> None:
        """Remove the adapter and the hook: the prior is the pretrained model again."""
        self._hook.remove()
        self.unet.delete_adapters(ADAPTER)


def vsd_loss(
    prior: Prior, particle: ParticleScore, images: torch.Tensor, cond, cameras: Cameras, config: SDSConfig,
    progress: float, generator: torch.Generator, latents: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """VSD loss for renders (as sds.sds_loss) with ``config.lora.steps_per_step`` LoRA updates on them, the first
    on the gradient's own sample x_t: the LoRA's training forward pass is the baseline's (one UNet call, not two)."""
    x0 = encode_renders(prior, images, latents)
    cams = camera_vector(cameras)
    lora: list[float] = []

    def baseline(x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        eps, fit_loss = particle.fit(x_t, t, noise, cond, cams, generator)
        lora.append(fit_loss)
        return eps

    loss, logs = distillation_loss(prior, x0, cond, config, progress, generator, baseline=baseline)
    lora += [particle.train_step(x0.detach(), cond, cams, generator) for _ in range(config.lora.steps_per_step - 1)]
    logs["lora"] = sum(lora) / len(lora)
    return loss, logs

"""``threestudio-lite train-prior``: train a mini prior from scratch on the procedural world.

v-prediction DDPM training with AdamW, a cosine learning-rate decay, an exponential moving average
of the weights (the shipped weights), condition dropout for classifier-free guidance, atomic checkpoints
(``--resume``), a progress bar, a loss-curve plot and sample grids (samples beside truth renders)."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...data.cameras import CameraConfig
from ...utils.images import grid, save_curves, save_png
from ...utils.io import load_torch, save_torch, write_text
from ..base import noised
from .data import WorldImages, render_world_images

# v-prediction: with epsilon-prediction the x0 implied at low SNR carries the noise error times 1/sqrt(ᾱ),
# which turned samples of a first training run into saturated blobs; v keeps x0 well-conditioned at every t.
NOISE_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction"}


@dataclass
class TrainPriorConfig:
    steps: int = 4500
    batch_size: int = 64
    lr: float = 1.5e-3
    warmup: int = 100
    ema_decay: float = 0.998
    groups: int = 6000
    views_per_group: int = 8
    image_size: int = 32
    channels: tuple[int, ...] = (32, 64, 128)
    text_width: int = 128
    condition_dropout: float = 0.1
    camera_dropout: float = 0.1
    view_suffix_prob: float = 0.7
    sample_every: int = 500
    checkpoint_every: int = 200
    seed: int = 0
    # bfloat16 autocast halves the step time where oneDNN has bf16 kernels (AVX512: 0.54 vs 1.06 s at batch 64) and
    # makes it 16x longer where it has none (AVX2 EPYC: 25 s vs 1.5 s). None: use it where it is fast.
    bf16: bool | None = None
    # Extra loss weight on the pixels of composites' thin parts and front markers (data.detail_masks).
    detail_weight: float = 10.0
    # Spread of the training renders' point light around the camera direction (the optimizer's sampler lights its
    # renders the same way; image-to-3D's text prior is trained with 0.2, README "The light, tested").
    light_direction_std: float = CameraConfig.light_direction_std
    # How the training renders are shaded: "lambertian" (lit colour) or "normal" (world-space normals as colours:
    # the geometry prior text-to-3D's normal SDS uses, README "The normal prior").
    shading: str = "lambertian"
    # Elevations (degrees) of the training views; a prior asked about views outside this band is guessing
    # (text-to-3D's normal prior is trained up to 70 deg so it has seen into cups, README "The normal prior").
    elevation_range: tuple[float, float] = CameraConfig.elevation_range
    # The prior folder the weights started from (fine-tuning), recorded with the config; the caller loads it.
    init: str | None = None


def training_cameras(config: TrainPriorConfig) -> CameraConfig:
    """The random-view sampler of the training renders: the optimizer's, with the config's elevations and light."""
    return CameraConfig(elevation_range=tuple(config.elevation_range), light_direction_std=config.light_direction_std)


def cpu_bf16_is_fast() -> bool:
    """Whether oneDNN has bfloat16 kernels for this CPU (AVX512 or newer); elsewhere bf16 autocast is emulated."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check is not None and check())


def noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**NOISE_SCHEDULE)


def lr_at(step: int, config: TrainPriorConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@contextlib.contextmanager
def seeded(seed: int):
    """Initialise modules from ``seed`` without touching the caller's global RNG (same seed, same weights)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def load_initial_weights(modules: torch.nn.ModuleDict, folder: str | Path) -> None:
    """Copy a saved prior's weights (``folder/<module name>/*.safetensors``) into ``modules``. A convolution
    whose saved kernel has fewer input channels is widened with zeros, so a model given new input channels
    (e.g. the ray map) starts out computing exactly what the saved one did."""
    from safetensors.torch import load_file

    for name, module in modules.items():
        files = sorted((Path(folder) / name).glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no {name} weights under {folder}")
        saved, state = load_file(str(files[0])), module.state_dict()
        for key, value in saved.items():
            if key in state and value.ndim == 4 and value.shape[1] < state[key].shape[1]:
                saved[key] = torch.cat([value, value.new_zeros(value.shape[0], state[key].shape[1] - value.shape[1],
                                                                *value.shape[2:])], 1)
        module.load_state_dict(saved)


class Recipe:
    """What differs between priors: the modules, a training batch, the loss, sample grids, saving."""

    modules: torch.nn.ModuleDict

    def loss(self, modules: torch.nn.ModuleDict, data: WorldImages, index: torch.Tensor, x_t, t, target,
             generator: torch.Generator) -> torch.Tensor:
        """Mean squared error of the UNet's prediction for noisy targets x_t against ``target`` (v)."""

    def sample_grid(self, modules: torch.nn.ModuleDict, data: WorldImages, generator: torch.Generator): ...

    def save(self, modules: torch.nn.ModuleDict, folder: Path) -> None: ...


def train_prior(recipe: Recipe, config: TrainPriorConfig, out_dir: Path, resume: bool = False,
                progress: bool = True, log=print) -> dict:
    out_dir = Path(out_dir)
    if config.bf16 is None:
        config = replace(config, bf16=cpu_bf16_is_fast())
    write_text(out_dir / "training" / "config.json", json.dumps(asdict(config), indent=2))
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    data = render_world_images(config.groups, config.views_per_group, config.image_size, training_cameras(config),
                               config.seed, progress, shading=config.shading)
    modules = recipe.modules
    ema = copy.deepcopy(modules).requires_grad_(False)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=config.lr, weight_decay=0.0)
    a_bar = noise_scheduler().alphas_cumprod.float()
    history: list[float] = []
    step, seconds = 0, 0.0
    ckpt = out_dir / "training" / "checkpoint.pt"
    if resume and ckpt.is_file():
        state = load_torch(ckpt)
        modules.load_state_dict(state["modules"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, seconds, history = state["step"], state["seconds"], state["history"]
        log(f"resuming prior training at step {step}")
    bar = tqdm(total=config.steps, initial=step, desc="training prior", disable=not progress, dynamic_ncols=True)
    while step < config.steps:
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        index = torch.randint(len(data), (config.batch_size,), generator=generator)
        x0 = data.float_images(index) * 2.0 - 1.0
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, len(a_bar), (config.batch_size,), generator=generator)
        a = a_bar[t].view(-1, 1, 1, 1)
        x_t = noised(a, x0, noise)
        v = a.sqrt() * noise - (1 - a).sqrt() * x0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            loss = recipe.loss(modules, data, index, x_t, t, v, generator).float()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), modules.parameters()):
                e.lerp_(p, 1.0 - config.ema_decay)
        step += 1
        seconds += time.perf_counter() - t0
        history.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.sample_every == 0 or step == config.steps:
            rows = recipe.sample_grid(ema, data, torch.Generator().manual_seed(0))
            save_png(grid(rows), out_dir / "training" / f"samples-step{step:06d}.png")
            save_curves({"loss": history}, out_dir / "training" / "loss.png", f"{type(recipe).__name__} training loss")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_torch({"modules": modules.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(), "step": step, "seconds": seconds, "history": history}, ckpt)
    bar.close()
    recipe.save(ema, out_dir)
    return {"steps": step, "train_seconds": round(seconds, 1), "final_loss": sum(history[-100:]) / len(history[-100:])}


def prediction_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error, optionally per-pixel weighted (normalised by the mean weight)."""
    if weights is None:
        return F.mse_loss(pred.float(), target)
    return ((pred.float() - target) ** 2 * weights).mean() / weights.mean()

"""The staged optimization loop: progress bar, validation grids, atomic checkpoints, resume.

A checkpoint (``checkpoints/last.pt``) holds the current stage and step, the scene, the optimizer, the
system's own trained state (VSD's LoRA), the sampling generator's state and the loss history, so a resumed run continues exactly where the killed
one stopped and reaches the same final step with the same result. A non-finite loss or gradient stops
the run before the optimizer step, leaving the last good checkpoint in place."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .config import RunConfig
from .data.cameras import CameraSampler
from .utils.images import grid, save_curves, save_png
from .utils.io import load_torch, save_torch
from .utils.runtime import peak_rss_mb


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the run."""


@dataclass
class StageTiming:
    name: str
    steps: int
    done: int = 0
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


@dataclass
class TrainResult:
    scene: torch.nn.Module
    timings: list[StageTiming] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)


def build_optimizer(scene, stage) -> torch.optim.Optimizer:
    opt = stage.optimizer
    return torch.optim.AdamW(scene.parameter_groups(opt), betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)


def _grads_finite(optimizer: torch.optim.Optimizer) -> bool:
    return all(
        p.grad is None or bool(torch.isfinite(p.grad).all()) for g in optimizer.param_groups for p in g["params"]
    )


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, where: str = "") -> None:
    """Backward and step, refusing (TrainingDiverged) a non-finite loss or gradient before any update."""
    if not math.isfinite(loss.item()):
        raise TrainingDiverged(f"loss became {loss.item()}{where}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if not _grads_finite(optimizer):
        raise TrainingDiverged(f"a gradient became non-finite{where}")
    optimizer.step()


class Trainer:
    def __init__(self, config: RunConfig, system, run_dir: Path, device: torch.device, generator: torch.Generator):
        self.config = config
        self.system = system
        self.run_dir = Path(run_dir)
        self.device = device
        self.generator = generator
        self.checkpoint_path = self.run_dir / "checkpoints" / "last.pt"
        self.orbit = CameraSampler(config.camera)

    def fit(self, resume: bool = False) -> TrainResult:
        state = self._load_checkpoint() if resume else None
        start_stage = state["stage"] if state else 0
        history: dict[str, list[float]] = state["history"] if state else {"loss": [], "sds": []}
        timings = [StageTiming(s.name, s.steps) for s in self.config.stages]
        if state:
            for t, (seconds, done) in zip(timings, state["stage_seconds"]):
                t.seconds, t.done = seconds, done
            self.generator.set_state(state["generator"])
        scene = None
        for index in range(start_stage, len(self.config.stages)):
            stage = self.config.stages[index]
            resuming_here = state is not None and index == start_stage
            torch.manual_seed(self.config.seed + index)  # parameter init does not depend on resume
            scene = self.system.build_scene(index, None if resuming_here else scene).to(self.device)
            optimizer = build_optimizer(scene, stage)
            start_step = 0
            if resuming_here:
                scene.load_state_dict(state["scene"])
                optimizer.load_state_dict(state["optimizer"])
                self.system.load_state_dict(state.get("system", {}))
                start_step = state["step"]
            self._run_stage(index, scene, optimizer, start_step, history, timings)
        title = Path(self.config.image.path).name if self.config.system == "image-to-3d" else self.config.prompt
        save_curves({k: v for k, v in history.items()}, self.run_dir / "loss.png", title)
        return TrainResult(scene, timings, history)

    def _run_stage(self, index, scene, optimizer, start_step, history, timings):
        stage = self.config.stages[index]
        cfg = self.config.trainer
        bar = tqdm(
            total=stage.steps, initial=start_step, desc=f"stage {index + 1}/{len(self.config.stages)} {stage.name}",
            disable=not cfg.progress_bar, dynamic_ncols=True, leave=True,
        )
        step = start_step
        try:
            while step < stage.steps:
                t0 = time.perf_counter()
                progress = step / stage.steps
                loss, logs = self.system.loss(scene, stage, step, progress, self.generator)
                optimizer_step(optimizer, loss, f" at stage {stage.name!r} step {step}")
                step += 1
                timings[index].seconds += time.perf_counter() - t0
                timings[index].done += 1
                history["loss"].append(loss.item())
                history["sds"].append(logs.get("sds", float("nan")))
                if "lora" in logs:  # VSD: the particle score's own diffusion loss on the renders
                    history.setdefault("lora", []).append(logs["lora"])
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4g}", samples=logs.get("samples", 0))
                if step % cfg.val_every == 0 or step == stage.steps:
                    self.validate(scene, index, step)
                if step % cfg.checkpoint_every == 0 or step == stage.steps:
                    self._save_checkpoint(index, step, scene, optimizer, history, timings)
                if step == stage.steps and index < len(self.config.stages) - 1:
                    save_torch({"stage": index, "scene": scene.state_dict()}, stage_checkpoint_path(self.run_dir, index, stage.name))
        except KeyboardInterrupt:
            self._save_checkpoint(index, step, scene, optimizer, history, timings)
            raise
        finally:
            bar.close()

    @torch.no_grad()
    def validate(self, scene, index: int, step: int) -> Path:
        """Save a grid of orbit views: shaded colour, textureless shading, normals (a latent stage: its decoded
        latents, normals)."""
        cfg = self.config.trainer
        cams = self.orbit.orbit(cfg.val_views, cfg.val_resolution, cfg.val_resolution)
        modes = ("albedo",) if self.config.stages[index].latent_renders else ("lambertian", "textureless")
        outs = [scene.render(cams, [mode] * len(cams), progress=1.0) for mode in modes]
        rows = [self.system.preview(out["rgb"]).cpu() for out in outs]
        out = outs[0]  # the normals do not depend on the shading mode
        normal_rgb = (out["normal"] * 0.5 + 0.5) * out["opacity"] + (1 - out["opacity"])
        rows.append(normal_rgb.cpu())
        path = self.run_dir / "val" / f"stage{index}-{self.config.stages[index].name}-step{step:06d}.png"
        save_png(grid(rows), path)
        return path

    def _save_checkpoint(self, stage_index, step, scene, optimizer, history, timings):
        save_torch(
            {
                "stage": stage_index,
                "step": step,
                "scene": scene.state_dict(),
                "optimizer": optimizer.state_dict(),
                "system": self.system.state_dict(),
                "generator": self.generator.get_state(),
                "history": history,
                "stage_seconds": [[t.seconds, t.done] for t in timings],
                "peak_rss_mb": peak_rss_mb(),
            },
            self.checkpoint_path,
        )

    def _load_checkpoint(self) -> dict:
        return read_checkpoint(self.checkpoint_path)


CHECKPOINT_KEYS = {"stage", "step", "scene", "optimizer", "generator", "history", "stage_seconds"}


def stage_checkpoint_path(run_dir: Path, index: int, name: str) -> Path:
    """Where a finished stage's scene is kept when later stages follow (e.g. Magic3D's coarse NeRF)."""
    return Path(run_dir) / "checkpoints" / f"stage{index}-{name}.pt"


def read_checkpoint(path: Path) -> dict:
    """A run checkpoint, loaded without unpickling arbitrary objects; CheckpointError if absent or foreign."""
    if not path.is_file():
        raise CheckpointError(f"{path.parent.parent} holds no checkpoint (expected {path})")
    try:
        state = load_torch(path)
        if not isinstance(state, dict) or not CHECKPOINT_KEYS <= state.keys():
            raise ValueError("missing entries")
    except Exception as e:  # any unreadable or foreign file is reported the same way
        raise CheckpointError(f"checkpoint {path} is corrupt or not ours ({type(e).__name__})") from None
    return state

"""A run from start to finish: validate inputs, prepare the run folder, train the stages, export, report.

Run folder: ``config.yaml`` (the resolved config), ``checkpoints/last.pt``, ``val/`` (validation grids),
``loss.png``, ``export/model.glb`` and ``export/model.obj``, ``turntable.mp4``/``.gif`` and ``metrics.json``."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from .config import RunConfig, load_saved_config
from .config_io import dump_yaml
from .errors import UserError
from .export.assets import export_scene
from .systems.image_to_3d import ImageTo3D
from .systems.text_to_3d import TextTo3D
from .trainer import Trainer, read_checkpoint
from .utils.io import load_torch, write_text
from .utils.runtime import peak_rss_mb, pick_device, seed_everything

SYSTEMS = {"text-to-3d": TextTo3D, "image-to-3d": ImageTo3D}


def _check_new_run_dir(run_dir: Path, overwrite: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output path {run_dir} exists and is not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise UserError(f"output folder {run_dir} already exists; pass --overwrite to replace it or --resume to continue it")
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"refusing to overwrite {run_dir}: it is not empty and holds no threestudio-lite run")
    probe_parent = run_dir if run_dir.is_dir() else next(p for p in run_dir.parents if p.exists())
    probe = probe_parent / ".threestudio-lite-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write to output folder {run_dir}: {e.strerror}") from None


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    _check_new_run_dir(run_dir, overwrite)
    if run_dir.is_dir() and overwrite:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def load_run_config(run_dir: Path) -> RunConfig:
    """The resolved config of an existing run folder, after checking that its checkpoint is readable."""
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "checkpoints" / "last.pt").is_file():
        raise UserError(f"{run_dir} holds no run to resume (no config.yaml and checkpoints/last.pt)")
    read_checkpoint(run_dir / "checkpoints" / "last.pt")
    return load_saved_config(run_dir / "config.yaml")


def run(config: RunConfig, run_dir: Path, resume: bool = False, overwrite: bool = False, log=print) -> dict:
    """Train every stage of ``config`` in ``run_dir`` (fresh or resumed), export, and write metrics.json."""
    if config.system not in SYSTEMS:
        raise UserError(f"unknown system {config.system!r}; expected one of {sorted(SYSTEMS)}")
    started = time.perf_counter()
    device = pick_device(config.device)
    generator = seed_everything(config.seed)
    system = SYSTEMS[config.system].create(config, device)
    prior = system.prior
    if not resume:
        prepare_run_dir(run_dir, overwrite)
        write_text(run_dir / "config.yaml", dump_yaml(config))
    log(f"prior: {prior.description}")
    text_prior = getattr(system, "text_prior", None) or prior  # image-to-3D's prompt goes to its text prior
    if text_prior is not prior:
        log(f"text prior: {text_prior.description}")
    known = hasattr(text_prior, "unknown_words") and config.prompt.strip() != "auto"
    unknown = text_prior.unknown_words(config.prompt) if known else []
    if unknown:
        print(f"threestudio-lite: warning: the prior does not know the word(s) {', '.join(map(repr, unknown))} "
              "and ignores them", file=sys.stderr)
    log(f"device: {device}; run folder: {run_dir}")
    result = Trainer(config, system, run_dir, device, generator).fit(resume=resume)
    export_started = time.perf_counter()
    exported = export_scene(result.scene, config, run_dir)
    export_seconds = time.perf_counter() - export_started
    metrics = {
        "prompt": config.prompt,
        "prior": prior.description,
        "device": str(device),
        "stages": [
            {"name": t.name, "steps": t.steps, "seconds": round(t.seconds, 3), "steps_per_second": round(t.steps_per_second, 3)}
            for t in result.timings
        ],
        "train_seconds": round(sum(t.seconds for t in result.timings), 3),
        "export_seconds": round(export_seconds, 3),
        "wall_seconds_this_process": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "final_loss": result.history["loss"][-1] if result.history["loss"] else None,
        "exports": exported,
        **system.report(result.scene, run_dir),
    }
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


def load_stage_scene(run_dir: Path, index: int):
    """Config and the scene of stage ``index`` as it finished, for a stage that later stages followed."""
    from .systems.distillation import build_scene
    from .trainer import stage_checkpoint_path

    config = load_run_config(run_dir)
    stage = config.stages[index]
    path = stage_checkpoint_path(run_dir, index, stage.name)
    if not path.is_file():
        raise UserError(f"{run_dir} keeps no scene of stage {index} ({stage.name}); expected {path}")
    scene = build_scene(stage)
    scene.load_state_dict(load_torch(path)["scene"])
    return config, scene


def load_finished_scene(run_dir: Path):
    """Config and the last stage's scene of a finished run, rebuilt from its checkpoint."""
    config = load_run_config(run_dir)
    state = read_checkpoint(run_dir / "checkpoints" / "last.pt")
    last = len(config.stages) - 1
    if state.get("stage") != last or state.get("step") != config.stages[last].steps:
        raise UserError(f"{run_dir} has not finished training; resume it first")
    from .systems.distillation import build_scene

    scene = build_scene(config.stages[last])
    scene.load_state_dict(state["scene"])
    return config, scene

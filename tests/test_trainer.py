"""Trainer guards: a non-finite loss stops the run with the last good checkpoint kept; Ctrl-C checkpoints."""

import pytest
import torch

from threestudio_lite.config import load_config
from threestudio_lite.systems.distillation import build_scene
from threestudio_lite.trainer import Trainer, TrainingDiverged
from threestudio_lite.utils.io import load_torch


class ScriptedSystem:
    """A system whose loss is a plain render loss, with a failure injected at a given step."""

    def __init__(self, config, fail_at, failure):
        self.config, self.fail_at, self.failure = config, fail_at, failure

    def build_scene(self, index, previous):
        return build_scene(self.config.stages[index])

    def preview(self, rgb):
        return rgb

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def loss(self, scene, stage, step, progress, generator):
        from threestudio_lite.data.cameras import make_cameras

        if step == self.fail_at and self.failure == "interrupt":
            raise KeyboardInterrupt
        out = scene.render(make_cameras([10.0], [0.0], 2.8, 42.5, 8, 8), ["lambertian"], progress, step, generator)
        loss = out["rgb"].mean()
        if step == self.fail_at:
            loss = loss * float("nan")
        return loss, {"samples": 0}


def _config():
    return load_config("dreamfusion", [
        "stages.0.steps=10", "stages.0.geometry.resolutions=[8, 12]", "stages.0.renderer.num_samples=16",
        "stages.0.renderer.occupancy_resolution=8", "trainer.checkpoint_every=2", "trainer.val_every=100",
        "trainer.val_views=1", "trainer.val_resolution=8", "trainer.progress_bar=false", "prompt=x",
    ])


def test_non_finite_loss_stops_before_the_update_and_keeps_the_last_good_checkpoint(tmp_path):
    config = _config()
    trainer = Trainer(config, ScriptedSystem(config, 5, "nan"), tmp_path, torch.device("cpu"), torch.Generator().manual_seed(0))
    with pytest.raises(TrainingDiverged, match="step 5"):
        trainer.fit()
    assert load_torch(tmp_path / "checkpoints" / "last.pt")["step"] == 4


def test_keyboard_interrupt_writes_a_checkpoint_at_the_current_step(tmp_path):
    config = _config()
    trainer = Trainer(config, ScriptedSystem(config, 3, "interrupt"), tmp_path, torch.device("cpu"), torch.Generator().manual_seed(0))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert load_torch(tmp_path / "checkpoints" / "last.pt")["step"] == 3
    # It resumes from there to the end.
    trainer = Trainer(config, ScriptedSystem(config, -1, "none"), tmp_path, torch.device("cpu"), torch.Generator().manual_seed(0))
    trainer.fit(resume=True)
    assert load_torch(tmp_path / "checkpoints" / "last.pt")["step"] == 10

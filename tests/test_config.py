"""Presets map onto the dataclasses; overrides and schedules validate; unknown keys are named."""

import pytest

from threestudio_lite.config import RunConfig, load_config, load_saved_config
from threestudio_lite.config_io import ConfigError, dump_yaml
from threestudio_lite.schedule import value_at


def test_preset_loads_and_overrides_apply():
    cfg = load_config("dreamfusion", ["stages.0.steps=123", "stages.0.guidance.guidance_scale=7.5", "prior.negative_prompt=blurry, low quality"])
    assert isinstance(cfg, RunConfig)
    assert cfg.stages[0].steps == 123
    assert cfg.stages[0].guidance.guidance_scale == 7.5
    assert cfg.prior.negative_prompt == "blurry, low quality"


@pytest.mark.parametrize("override, fragment", [
    ("stages.0.bogus=1", "stages.0.bogus"),
    ("camera.nope=2", "camera.nope"),
    ("stages.3.steps=1", "stages.3.steps"),
    ("stages.0.steps=many", "stages.0.steps"),
    ("stages.0.guidance.t_max=[[0.5, 1.0], [0.2, 0.3]]", "stages.0.guidance.t_max"),
    ("export.surface=voxels", "export.surface: expected one of 'marching-cubes', 'silhouette'"),
    ("stages.0.renderer.num_samples=[[0, 48], [1, 0]]", "stages.0.renderer.num_samples: at least 1"),
])
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config("dreamfusion", [override])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("dreamfusion", ["seed=7"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_saved_config(path) == cfg


def test_schedules_interpolate_over_progress():
    sched = [[0.0, 0.98], [0.5, 0.5]]
    assert value_at(sched, 0.0) == pytest.approx(0.98)
    assert value_at(sched, 0.25) == pytest.approx(0.74)
    assert value_at(sched, 0.9) == pytest.approx(0.5)
    assert value_at(3.0, 0.4) == 3.0

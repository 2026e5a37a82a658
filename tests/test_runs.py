"""End-to-end runs on a tiny random diffusers prior: outputs, GLB re-open, kill + resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import trimesh

VIEW_PRIOR = Path(__file__).resolve().parents[1] / "threestudio_lite" / "assets" / "priors" / "view"
TINY = [
    "stages.0.resolution=16", "stages.0.batch_size=2", "stages.0.renderer.num_samples=24",
    "stages.0.renderer.occupancy_resolution=16", "stages.0.geometry.resolutions=[8, 12, 16]",
    "stages.0.geometry.active_levels=[[0.0, 2], [0.5, 3]]", "trainer.val_every=6", "trainer.val_views=2",
    "trainer.val_resolution=16", "export.mc_resolution=32", "export.isosurface_density=2.0",
    "export.turntable_frames=4", "export.turntable_resolution=32",
]


def cli(*args, check=True, **kw):
    proc = subprocess.run([sys.executable, "-m", "threestudio_lite", *map(str, args)], capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def tiny_run_args(prior_dir, out, steps=12, extra=()):
    return ["text-to-3d", "a red cube", "--out", out, "--steps", steps, "--no-progress",
            "prior.kind=diffusers", f"prior.path={prior_dir}", *TINY, *extra]


def final_params(run_dir):
    state = torch.load(Path(run_dir) / "checkpoints" / "last.pt", weights_only=True)
    return state["scene"]


def test_run_writes_every_output_and_the_glb_reopens(tiny_text_prior_dir, tmp_path):
    out = tmp_path / "run"
    proc = cli(*tiny_run_args(tiny_text_prior_dir, out))
    assert "GLB: " in proc.stdout and "prior: diffusers" in proc.stdout
    for name in ["config.yaml", "checkpoints/last.pt", "export/model.glb", "export/model.obj", "turntable.mp4",
                 "turntable.gif", "metrics.json", "loss.png"]:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "val").iterdir())  # validation grids were written
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stages"][0]["steps"] == 12 and metrics["stages"][0]["steps_per_second"] > 0
    assert metrics["peak_rss_mb"] > 0
    mesh = trimesh.load(out / "export" / "model.glb", force="mesh")
    assert len(mesh.vertices) == metrics["exports"]["vertices"] > 0
    assert len(mesh.faces) == metrics["exports"]["faces"]
    # No temporary files are left behind.
    assert not [p for p in out.rglob(".*") if p.is_file()]


@pytest.mark.parametrize("mode", ["sds", "vsd"])
def test_killed_run_resumes_to_the_same_result(tiny_text_prior_dir, tmp_path, mode):
    """With VSD the checkpoint also carries the LoRA and its optimizer, so the resumed run still ends identical."""
    steps = 16
    extra = ["trainer.checkpoint_every=2", f"stages.0.guidance.mode={mode}"]
    straight = tmp_path / "straight"
    cli(*tiny_run_args(tiny_text_prior_dir, straight, steps, extra))

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "threestudio_lite",
                             *map(str, tiny_run_args(tiny_text_prior_dir, killed, steps, extra))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline:
        if ckpt.exists():
            state = torch.load(ckpt, weights_only=True)
            if 4 <= state["step"] < steps:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step_at_kill = torch.load(ckpt, weights_only=True)["step"]
    assert step_at_kill < steps, "the run finished before it could be killed"
    assert not (killed / "metrics.json").exists()

    cli("text-to-3d", "--resume", killed, "--no-progress")
    assert json.loads((killed / "metrics.json").read_text())["stages"][0]["steps"] == steps
    a, b = final_params(straight), final_params(killed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


@pytest.mark.parametrize("args, message", [
    (["text-to-3d", "", "--out", "{tmp}/x"], "prompt is empty"),
    (["text-to-3d", "a red cube", "--out", "{tmp}/x", "--config", "nope"], "unknown preset 'nope'"),
    (["text-to-3d", "a red cube", "--out", "{tmp}/x", "stages.0.wings=3"], "unknown config key 'stages.0.wings'"),
    (["text-to-3d", "a red cube", "--out", "/proc/forbidden/run"], "cannot write to output folder"),
    (["text-to-3d", "--resume", "{tmp}"], "holds no run to resume"),
    (["text-to-3d", "a red cube", "--out", "{tmp}/x", "prior.kind=diffusers", "prior.path={tmp}/missing"], "cannot load the diffusers prior"),
    (["text-to-3d", "a red cube", "--out", "{tmp}/x", "prior.kind=exact-denoiser", "stages.0.guidance.mode=vsd"],
     "VSD needs a prior whose noise predictor is a diffusers UNet"),
    (["train-prior", "text", "--out", "{tmp}/x", "--init", "{tmp}/missing"], "not a prior folder"),
    (["train-prior", "text", "--out", "{tmp}/x", "--init", str(VIEW_PRIOR)], "not a text prior this recipe can start from"),
    (["train-prior", "text", "--out", "{tmp}/x", "--elevation-range", "50", "10"], "need -90 < LOW < HIGH < 90"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    proc = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "x").exists()


def test_existing_run_is_not_clobbered_and_corrupt_checkpoint_is_reported(tiny_text_prior_dir, tmp_path):
    out = tmp_path / "run"
    cli(*tiny_run_args(tiny_text_prior_dir, out, steps=4))
    before = (out / "export" / "model.glb").read_bytes()
    proc = cli(*tiny_run_args(tiny_text_prior_dir, out, steps=4), check=False)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert (out / "export" / "model.glb").read_bytes() == before

    (out / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    proc = cli("text-to-3d", "--resume", out, check=False)
    assert proc.returncode == 2 and "corrupt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

    other = tmp_path / "not-a-run"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    proc = cli(*tiny_run_args(tiny_text_prior_dir, other, steps=4) + ["--overwrite"], check=False)
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert (other / "notes.txt").read_text() == "keep me"

"""``threestudio-lite bench``: renderer throughput and SDS step rate, with empty-space skipping and
without (a plain dense-sampling baseline), measured in the same process so the speed-up is a ratio.

The scene is a trained-like state: the density of a procedural-world object (sharp surface, empty
outside), so skipping is measured where it matters rather than on the initial fog."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .config import RunConfig, StageConfig, load_config
from .data.cameras import CameraSampler
from .priors.loading import load_prior
from .renderers.volume import RendererConfig
from .systems.nerf_scene import NerfScene
from .systems.text_to_3d import TextTo3D
from .trainer import build_optimizer, optimizer_step
from .utils.io import write_text
from .utils.runtime import peak_rss_mb, seed_everything

BENCH_PROMPT = "a red cube"


def _timed(fn, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _object_scene(stage: StageConfig) -> NerfScene:
    from .world.captions import object_from_caption

    obj = object_from_caption(BENCH_PROMPT)
    scene = NerfScene(stage)
    lo, hi = math.log(1e-3), math.log(300.0)
    scene.geometry.set_log_density(lambda p: lo + (hi - lo) * torch.sigmoid(-obj.sdf(p) / 0.01))
    return scene


def _variants(base: RendererConfig) -> dict[str, RendererConfig]:
    return {
        "skipping": base,
        "dense": replace(base, occupancy=False, early_stop_transmittance=0.0),
    }


def measure(config: RunConfig, resolution: int = 64, repeats: int = 5) -> dict:
    generator = seed_everything(0)
    stage0 = config.stages[0]
    prior = load_prior(config.prior, BENCH_PROMPT, config.camera, torch.device("cpu"))
    results = {"resolution": resolution, "threads": torch.get_num_threads(), "prior": prior.description, "renderers": {}}
    sampler = CameraSampler(config.camera)
    for name, renderer in _variants(stage0.renderer).items():
        stage = replace(stage0, renderer=renderer, resolution=float(resolution), batch_size=1,
                        geometry=replace(stage0.geometry, active_levels=float(len(stage0.geometry.resolutions))))
        scene = _object_scene(stage)
        cams = sampler.sample(1, resolution, resolution, generator)
        scene.renderer.update_occupancy(scene.field(1.0), 0, generator)
        evaluated = []

        def render_backward():
            out = scene.render(cams, ["lambertian"], 1.0, generator=generator)
            evaluated.append(int(out["samples_evaluated"]))
            out["rgb"].mean().backward()

        seconds = _timed(render_backward, repeats)
        rays = resolution * resolution
        system = TextTo3D(replace(config, prompt=BENCH_PROMPT, stages=[stage]), prior)
        optimizer = build_optimizer(scene, stage)
        step = [0]

        def sds_step():
            loss, _ = system.loss(scene, stage, step[0], 0.5, generator)
            optimizer_step(optimizer, loss)
            step[0] += 1

        sds_seconds = _timed(sds_step, repeats)
        results["renderers"][name] = {
            "render_fwd_bwd_ms": round(seconds * 1e3, 2),
            "ray_samples_per_s": round(rays * scene.renderer.num_samples(1.0) / seconds),
            "samples_evaluated_per_view": round(statistics.mean(evaluated)),
            "sds_steps_per_s": round(1.0 / sds_seconds, 3),
        }
    x = torch.rand(1, 3, prior.image_size, prior.image_size)
    cond = prior.condition(BENCH_PROMPT, sampler.sample(1, 8, 8, generator))
    t = torch.tensor([500])
    results["prior_guided_forward_ms"] = round(
        _timed(lambda: prior.predict_noise(x * 2 - 1, t, cond, 20.0), repeats * 4) * 1e3, 2)
    fast, slow = results["renderers"]["skipping"], results["renderers"]["dense"]
    results["speedup_render"] = round(slow["render_fwd_bwd_ms"] / fast["render_fwd_bwd_ms"], 2)
    results["speedup_sds_step"] = round(fast["sds_steps_per_s"] / slow["sds_steps_per_s"], 2)
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return results


def measure_mesh_rasterizer(resolution: int = 128, repeats: int = 5) -> dict:
    """One view of a ~10k-face sphere through the CPU rasterizer: rasterize, query a small texture MLP at the
    visible points, shade, antialias, and backpropagate to the vertices and the MLP."""
    import trimesh

    from .renderers.background import Background, BackgroundConfig
    from .renderers.material import MaterialConfig
    from .renderers.mesh import render_mesh

    torch.manual_seed(0)
    sphere = trimesh.creation.uv_sphere(0.8, count=[50, 52])
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32, requires_grad=True)
    faces = torch.tensor(sphere.faces)
    texture = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3), torch.nn.Sigmoid())
    cams = CameraSampler(load_config("dreamfusion").camera).orbit(1, resolution, resolution)
    background = Background(BackgroundConfig())

    def render_backward():
        out = render_mesh(vertices, faces, texture, background, cams, ["lambertian"], MaterialConfig())
        (out["rgb"].mean() + out["opacity"].mean()).backward()

    return {"faces": len(faces), "resolution": resolution,
            "render_fwd_bwd_ms": round(_timed(render_backward, repeats) * 1e3, 2)}


def default_run(out_dir: Path, overrides: list[str]) -> dict:
    """A full default text-to-3D run (train + export) in its own process, so its peak RSS is its own."""
    run_dir = Path(out_dir) / "default-run"
    command = [sys.executable, "-m", "threestudio_lite", "text-to-3d", BENCH_PROMPT, "--out", str(run_dir),
               "--overwrite", *overrides]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"default run failed: {proc.stderr.strip().splitlines()[-1:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"prompt": BENCH_PROMPT, "stages": metrics["stages"], "export_seconds": metrics["export_seconds"],
            "wall_seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": metrics["peak_rss_mb"]}


def format_table(results: dict) -> str:
    lines = [
        f"bench at {results['resolution']}x{results['resolution']}, {results['threads']} threads; prior: {results['prior']}",
        f"{'sampling':<10} {'render fwd+bwd ms':>18} {'ray·samples/s':>14} {'samples/view':>13} {'SDS steps/s':>12}",
    ]
    for name, r in results["renderers"].items():
        lines.append(f"{name:<10} {r['render_fwd_bwd_ms']:>18.1f} {r['ray_samples_per_s']:>14,} "
                     f"{r['samples_evaluated_per_view']:>13,} {r['sds_steps_per_s']:>12.2f}")
    run = results.get("default_run")
    if run:
        for st in run["stages"]:
            lines.append(f"default run '{run['prompt']}', stage {st['name']}: {st['steps']} steps in "
                         f"{st['seconds']:.1f} s ({st['steps_per_second']:.2f} steps/s)")
        lines.append(f"default run: export {run['export_seconds']:.1f} s, wall {run['wall_seconds']:.1f} s, "
                     f"peak RSS {run['peak_rss_mb']:.0f} MiB")
    lines.append(f"speed-up from skipping: render x{results['speedup_render']}, SDS step x{results['speedup_sds_step']}; "
                 f"prior guided forward {results['prior_guided_forward_ms']} ms; peak RSS {results['peak_rss_mb']:.0f} MiB")
    mesh = results.get("mesh_rasterizer")
    if mesh:
        lines.append(f"mesh rasterizer (CPU): {mesh['faces']:,} faces at {mesh['resolution']}x{mesh['resolution']}, "
                     f"rasterize + texture + shade + antialias + backward {mesh['render_fwd_bwd_ms']:.1f} ms")
    return "\n".join(lines)


def run_bench(out_dir: Path, quick: bool = False) -> dict:
    results = measure(load_config("dreamfusion"), repeats=2 if quick else 5)
    results["mesh_rasterizer"] = measure_mesh_rasterizer(repeats=2 if quick else 5)
    results["default_run"] = default_run(out_dir, ["stages.0.steps=40"] if quick else [])
    write_text(Path(out_dir) / "bench.json", json.dumps(results, indent=2))
    print(format_table(results))
    print(f"written: {Path(out_dir) / 'bench.json'}")
    return results

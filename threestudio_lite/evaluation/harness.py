"""Run a system once per case in its own process (so a failing case is reported and the rest still run,
and peak memory is per asset), score it against the truth, and write eval.json and eval.png."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from ..data.cameras import CameraConfig, make_cameras
from ..errors import UserError
from ..runs import load_run_config, load_stage_scene
from ..utils.io import atomic_path, write_text
from ..world.captions import object_from_caption
from ..world.render import composite, render
from .scoring import load_mesh, score_mesh

SCORE_KEYS = ("iou", "chamfer", "color_error", "front_ok")


def read_cases(path: Path, required: tuple[str, ...]) -> list[dict]:
    """JSON-lines cases; every line must be an object with the required keys and a known truth caption."""
    if not path.is_file():
        raise UserError(f"cases file {path} does not exist")
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number}: not JSON ({e.msg})") from None
        missing = [k for k in required if k not in case]
        if not isinstance(case, dict) or missing:
            raise UserError(f"{path}:{number}: a case needs the keys {', '.join(required)} (missing {missing})")
        try:
            object_from_caption(case["truth"])
        except ValueError as e:
            raise UserError(f"{path}:{number}: truth {case['truth']!r}: {e}") from None
        cases.append(case)
    if not cases:
        raise UserError(f"{path} holds no cases")
    return cases


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def run_case(command: list[str], run_dir: Path, log) -> tuple[float, str | None]:
    """Run one case's CLI command; returns wall seconds and an error line (None on success)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "threestudio_lite", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return seconds, (lines[-1] if lines else f"exit code {proc.returncode}")
    return seconds, None


def score_exported_mesh(case: dict, run_dir: Path) -> dict:
    """Mesh scores of a run whose result lives in the truth's frame (text-to-3D); for a coarse NeRF refined as a
    mesh (Magic3D) also the coarse stage's marching-cubes mesh's IoU, Chamfer and colour error (``coarse_*``)."""
    obj = object_from_caption(case["truth"])
    scores = score_mesh(load_mesh(run_dir / "export" / "model.glb"), obj)
    config = load_run_config(run_dir)
    if len(config.stages) > 1 and config.stages[0].representation == "nerf" and config.stages[-1].representation == "mesh":
        _, coarse = load_stage_scene(run_dir, 0)
        coarse_scores = score_mesh(coarse.export_mesh(config.export), obj)
        scores.update({f"coarse_{k}": coarse_scores[k] for k in ("iou", "chamfer", "color_error")})
    return scores


def evaluate(cases: list[dict], out_dir: Path, command_for, log=print, score_case=score_exported_mesh,
             score_keys: tuple[str, ...] = SCORE_KEYS) -> dict:
    """``command_for(case, run_dir)`` gives the CLI arguments of one case's run; ``score_case(case, run_dir)``
    its scores (``score_keys``, null when the case fails) against the truth."""
    results = []
    for i, case in enumerate(cases):
        label = case.get("prompt") or Path(case.get("image", "")).stem
        run_dir = out_dir / "runs" / f"{i:02d}-{slug(label)}"
        entry = {**{k: case[k] for k in case}, **{k: None for k in (*score_keys, "seconds", "peak_rss_mb")},
                 "error": None, "run_dir": str(run_dir)}
        seconds, error = run_case(command_for(case, run_dir), run_dir, log)
        entry["seconds"] = round(seconds, 2)
        if error is None:
            try:
                metrics = json.loads((run_dir / "metrics.json").read_text())
                entry["peak_rss_mb"] = metrics["peak_rss_mb"]
                entry.update(score_case(case, run_dir))
            except Exception as e:  # a case that cannot be scored is a failed case, the rest still run
                error = f"scoring failed: {type(e).__name__}: {e}"
        entry["error"] = error
        results.append(entry)
        status = error or ", ".join(f"{k} {entry[k]}" for k in score_keys)
        log(f"[{i + 1}/{len(cases)}] {label!r}: {status} ({seconds:.0f} s)")
    report = {"cases": results, "summary": summarize(results)}
    write_text(out_dir / "eval.json", json.dumps(report, indent=2))
    save_report_figure(results, out_dir / "eval.png")
    return report


def summarize(results: list[dict]) -> dict:
    ok = [r for r in results if r["error"] is None]
    summary = {"cases": len(results), "failed": len(results) - len(ok)}
    for key, worst in (("iou", min), ("chamfer", max), ("color_error", max), ("seconds", max),
                       ("peak_rss_mb", max), ("psnr", min), ("mask_iou", min), ("ref_psnr", min),
                       ("coarse_iou", min), ("coarse_chamfer", max), ("coarse_color_error", max)):
        values = [r[key] for r in ok if r.get(key) is not None]
        if values:
            summary[key] = {"mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4),
                            "worst": round(worst(values), 4)}
    fronts = [r["front_ok"] for r in ok if r.get("front_ok") is not None]
    if fronts:
        summary["front_ok_rate"] = round(sum(fronts) / len(fronts), 3)
    return summary


def _first_frames(run_dir: Path, count: int = 2) -> list[np.ndarray]:
    reader = imageio.get_reader(run_dir / "turntable.gif")
    frames = [np.asarray(f)[..., :3] for f in reader]
    step = max(1, len(frames) // 4)
    return [frames[i * step] for i in range(count)]


def save_report_figure(results: list[dict], path: Path) -> None:
    """Per case: truth and result at the front and a quarter turn; beside them a bar chart of IoU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    camera = CameraConfig()
    n = len(results)
    fig = plt.figure(figsize=(12, 1.6 * n + 1))
    grid = fig.add_gridspec(n, 5, width_ratios=[1, 1, 1, 1, 3])
    for i, r in enumerate(results):
        obj = object_from_caption(r["truth"])
        cams = make_cameras(camera.eval_elevation, [0.0, 90.0], camera.eval_distance, camera.eval_fovy, 128, 128)
        truth = (composite(render(obj, cams), (1.0, 1.0, 1.0)) * 255).to(torch.uint8).numpy()
        ours = _first_frames(Path(r["run_dir"])) if r["error"] is None else [np.full((128, 128, 3), 255, np.uint8)] * 2
        for j, (image, title) in enumerate(zip([truth[0], ours[0], truth[1], ours[1]],
                                                ["truth", "result", "truth 90°", "result 90°"])):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
            if j == 0:
                ax.set_ylabel(str(r.get("prompt") or r["truth"])[:28], fontsize=7)
    ax = fig.add_subplot(grid[:, 4])
    labels = [str(r.get("prompt") or r["truth"])[:30] for r in results]
    ious = [r["iou"] or 0.0 for r in results]
    ax.barh(range(n), ious, color=["tab:green" if v >= 0.8 else "tab:orange" if v >= 0.5 else "tab:red" for v in ious])
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)  # one bar per image row, top to bottom
    ax.set_xlim(0, 1)
    ax.axvline(0.8, color="k", lw=0.8, ls="--")
    ax.set_xlabel("volumetric IoU vs exact SDF")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)

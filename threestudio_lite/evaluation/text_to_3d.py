"""``threestudio-lite eval text-to-3d``: the text-to-3D system on a list of prompts with world truths."""

from __future__ import annotations

from pathlib import Path

from .harness import evaluate, read_cases


def eval_text_to_3d(cases_path: Path, out_dir: Path, preset: str, overrides: list[str], log=print) -> dict:
    cases = read_cases(cases_path, ("prompt", "truth"))

    def command(case: dict, run_dir: Path) -> list[str]:
        return ["text-to-3d", case["prompt"], "--out", str(run_dir), "--overwrite", "--config", preset,
                "--seed", str(case.get("seed", 0)), "--no-progress", *overrides]

    return evaluate(cases, out_dir, command, log)

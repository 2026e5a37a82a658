"""`eval text-to-3d` runs every case in its own process, scores it against the truth and reports failures."""

import json
import subprocess
import sys

from test_runs import TINY


def run_eval(tmp_path, cases: list[dict], steps: int) -> tuple[subprocess.CompletedProcess, object]:
    """`eval text-to-3d` on ``cases`` with the tiny test config; returns the process and the output folder."""
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in cases))
    out = tmp_path / "eval"
    overrides = [o for o in TINY if not o.startswith("export.isosurface")] + [
        f"stages.0.steps={steps}", "export.isosurface_density=0.5"]
    proc = subprocess.run([sys.executable, "-m", "threestudio_lite", "eval", "text-to-3d", "--cases", str(path),
                           "--out", str(out), *overrides], capture_output=True, text=True)
    return proc, out


def test_short_eval_on_two_cases_scores_and_reports_a_failing_case(tmp_path):
    proc, out = run_eval(tmp_path, [{"prompt": "a red cube", "truth": "a red cube"},
                                    {"prompt": "a blue sphere", "truth": "a blue sphere", "seed": 1}], steps=8)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "eval.json").read_text())
    assert len(report["cases"]) == 2 and (out / "eval.png").is_file()
    for case in report["cases"]:
        assert case["error"] is None, case["error"]
        assert 0.0 <= case["iou"] <= 1.0 and case["chamfer"] > 0 and 0.0 <= case["color_error"] <= 1.0
        assert case["front_ok"] is None and case["seconds"] > 0 and case["peak_rss_mb"] > 0
    assert report["summary"]["cases"] == 2 and report["summary"]["failed"] == 0


def test_a_case_that_fails_is_reported_and_the_rest_still_run(tmp_path):
    proc, out = run_eval(tmp_path, [{"prompt": "a red cube", "truth": "a red cube"},
                                    {"prompt": "a red cube", "truth": "a red cube", "seed": "not-a-number"}], steps=4)
    assert proc.returncode == 0, proc.stderr
    first, second = json.loads((out / "eval.json").read_text())["cases"]
    assert first["error"] is None and first["iou"] is not None
    assert second["error"] and "--seed" in second["error"] and second["iou"] is None


def test_bad_cases_file_is_one_line_exit_2(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"prompt": "a red cube", "truth": "a red vermilion cube"}\n')
    proc = subprocess.run([sys.executable, "-m", "threestudio_lite", "eval", "text-to-3d", "--cases", str(cases),
                           "--out", str(tmp_path / "eval")], capture_output=True, text=True)
    assert proc.returncode == 2 and "vermilion" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

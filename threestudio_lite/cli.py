"""The ``threestudio-lite`` command.

Config fields are overridden threestudio-style with ``key.path=value`` arguments after the prompt,
e.g. ``threestudio-lite text-to-3d "a red cube" --out runs/cube stages.0.steps=300 stages.0.guidance.guidance_scale=30``.
Bad input is reported as one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config_io import ConfigError
from .errors import UserError

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    print(f"threestudio-lite: error: {message}", file=sys.stderr)
    sys.exit(code)


def _scale_steps(config, total: int):
    """Set stage lengths so that they add up to ``total`` in their preset proportions."""
    if total < len(config.stages):
        raise ConfigError(f"--steps must be at least the number of stages ({len(config.stages)})")
    preset_total = sum(s.steps for s in config.stages)
    left = total
    for i, stage in enumerate(config.stages):
        share = left if i == len(config.stages) - 1 else max(1, round(total * stage.steps / preset_total))
        stage.steps = share
        left -= share
    return config


def _run_system(args, what: str, set_input) -> None:
    """Shared by text-to-3d and image-to-3d: build the config (or reload a run's), train, export, report.
    ``what`` names the positional input; ``set_input(config)`` puts it into the config."""
    given = getattr(args, what)
    if args.resume and (given or args.overrides):
        raise UserError(f"--resume continues a run with its saved config: give no {what} or overrides")
    if not args.resume and (given is None or not given.strip()):
        raise UserError("the prompt is empty" if what == "prompt" else f"no {what} given")
    if not args.resume and not args.out:
        raise UserError("--out DIR is required (where the run folder goes)")
    from . import runs
    from .config import load_config

    if args.resume:
        run_dir = Path(args.resume)
        config = runs.load_run_config(run_dir)
    else:
        run_dir = Path(args.out)
        config = load_config(args.config, list(args.overrides))
        set_input(config)
        if args.seed is not None:
            config.seed = args.seed
        if args.device:
            config.device = args.device
        if args.steps is not None:
            _scale_steps(config, args.steps)
    if args.no_progress:
        config.trainer.progress_bar = False
    metrics = runs.run(config, run_dir, resume=bool(args.resume), overwrite=args.overwrite)
    stages = ", ".join(f"{s['name']} {s['seconds']:.1f}s ({s['steps_per_second']:.2f} it/s)" for s in metrics["stages"])
    print(f"stages: {stages}; export {metrics['export_seconds']:.1f}s; peak RSS {metrics['peak_rss_mb']:.0f} MiB")
    print(f"GLB: {metrics['exports'].get('glb', '(not exported)')}")
    print(f"turntable: {metrics['exports']['turntable_mp4']}")
    if "ref_psnr" in metrics:
        print(f"reference view PSNR: {metrics['ref_psnr']:.2f} dB")


def cmd_text_to_3d(args) -> None:
    def set_prompt(config):
        config.prompt = args.prompt

    _run_system(args, "prompt", set_prompt)


def cmd_image_to_3d(args) -> None:
    def set_image(config):
        config.system = "image-to-3d"
        config.image.path = args.image
        if args.prompt is not None:
            config.prompt = args.prompt
        for name in ("mask", "elevation", "azimuth", "distance", "fovy"):
            if getattr(args, name) is not None:
                setattr(config.image, name, getattr(args, name))

    _run_system(args, "image", set_image)


def cmd_export(args) -> None:
    from . import runs
    from .export.assets import export_scene

    run_dir = Path(args.run_dir)
    config, scene = runs.load_finished_scene(run_dir)
    if args.format:
        config.export.formats = [args.format]
    written = export_scene(scene, config, run_dir)
    print(json.dumps(written, indent=2))


def cmd_config(args) -> None:
    from .config import load_config
    from .config_io import dump_yaml

    print(dump_yaml(load_config(args.preset, list(args.overrides))), end="")


def cmd_world_render(args) -> None:
    from .world.render import render_caption_to_png

    try:
        render_caption_to_png(args.caption, args.elevation, args.azimuth, args.distance, args.fovy, args.size, args.out)
    except ValueError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot write {args.out}: {e.strerror}") from None
    print(args.out)


def cmd_bench(args) -> None:
    from .bench import run_bench

    run_bench(Path(args.out), quick=args.quick)


def cmd_train_prior(args) -> None:
    from dataclasses import replace

    from .priors.mini.train import TrainPriorConfig, load_initial_weights, train_prior

    config = TrainPriorConfig()
    changes = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("seed", args.seed),
                                 ("groups", args.groups), ("lr", args.lr), ("detail_weight", args.detail_weight),
                                 ("light_direction_std", args.light_std), ("shading", args.shading),
                                 ("elevation_range", args.elevation_range and tuple(args.elevation_range)),
                                 ("init", args.init))
               if v is not None}
    config = replace(config, **changes)
    if args.elevation_range and not -90 < args.elevation_range[0] < args.elevation_range[1] < 90:
        raise UserError(f"--elevation-range {args.elevation_range[0]:g} {args.elevation_range[1]:g}: "
                        "need -90 < LOW < HIGH < 90")
    if args.init and not (Path(args.init) / "unet").is_dir():
        raise UserError(f"--init {args.init}: not a prior folder (no unet/ inside)")
    if args.kind == "text":
        from .priors.mini.text_recipe import TextRecipe

        recipe = TextRecipe(config)
    else:
        from .priors.mini.view_recipe import ViewRecipe

        recipe = ViewRecipe(config)
    if args.init:  # a resumed run then continues from its checkpoint instead
        try:
            load_initial_weights(recipe.modules, args.init)
        except (OSError, RuntimeError) as error:
            raise UserError(f"--init {args.init}: not a {args.kind} prior this recipe can start from "
                            f"({str(error).splitlines()[0]})") from None
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.resume:
        raise UserError(f"{out} already exists; pass --resume to continue its training")
    summary = train_prior(recipe, config, out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(summary))
    print(f"prior written to {out}")


def cmd_eval_prior(args) -> None:
    from .priors.loading import quiet_libraries, shipped_prior_dir
    from .priors.mini import quality
    from .utils.images import grid, save_png
    from .utils.io import write_text

    quiet_libraries()
    path = Path(args.path) if args.path else shipped_prior_dir(args.kind)
    if not (path / "model_index.json").is_file():
        raise UserError(f"no mini {args.kind} prior at {path}")
    out = Path(args.out)
    if args.kind == "text":
        from .priors.mini.text_prior import MiniTextPrior

        prior = MiniTextPrior.from_pretrained(path)
        seen, seen_grid = quality.check_text_prior(prior, quality.text_check_captions(), guidance_scale=args.guidance_scale)
        held, held_grid = quality.check_text_prior(prior, quality.held_out_captions(), guidance_scale=args.guidance_scale)
        report = {"prior": prior.description, "captions": seen, "held_out_combinations": held}
        save_png(grid(seen_grid, columns=4, together=2), out / "text_prior_samples.png")
        save_png(grid(held_grid, columns=2, together=2), out / "text_prior_held_out.png")
        print(f"recognised: {seen['recognised']}/{seen['total']} captions, "
              f"{held['recognised']}/{held['total']} held-out shape-colour combinations; "
              f"objects with a front part turned right in {seen['oriented_fraction']:.0%} of the views")
    else:
        from .priors.mini.view_prior import MiniViewPrior

        prior = MiniViewPrior.from_pretrained(path)
        report, rows = quality.check_view_prior(prior, quality.view_check_captions(), guidance_scale=args.guidance_scale)
        report["prior"] = prior.description
        save_png(grid(rows, columns=2, together=2), out / "view_prior_samples.png")
        print(f"new views: mean PSNR {report['mean_psnr']} dB, mean mask IoU {report['mean_mask_iou']}")
    write_text(out / f"{args.kind}_prior_eval.json", json.dumps(report, indent=2))
    print(f"written: {out}")


def cmd_eval_text_to_3d(args) -> None:
    from .evaluation.text_to_3d import eval_text_to_3d

    _eval_system(args, eval_text_to_3d)


def cmd_eval_image_to_3d(args) -> None:
    from .evaluation.image_to_3d import eval_image_to_3d

    _eval_system(args, eval_image_to_3d)


def _eval_system(args, eval_fn) -> None:
    from .config import load_config

    load_config(args.config, list(args.overrides))  # bad preset or keys fail here, before any run
    report = eval_fn(Path(args.cases), Path(args.out), args.config, list(args.overrides))
    print(json.dumps(report["summary"], indent=2))
    print(f"written: {Path(args.out) / 'eval.json'}, {Path(args.out) / 'eval.png'}")


def _add_run_options(p: argparse.ArgumentParser, preset: str) -> None:
    p.add_argument("--out", help="run folder to create")
    p.add_argument("--config", default=preset, help=f"preset name or YAML path (default: {preset})")
    p.add_argument("--seed", type=int, help="random seed (default: the preset's)")
    p.add_argument("--steps", type=int, help="total optimization steps, split over stages in the preset's proportions")
    p.add_argument("--device", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed or interrupted run to its final step")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_eval_options(e: argparse.ArgumentParser, preset: str, func) -> None:
    e.add_argument("--cases", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--config", default=preset, help=f"preset name or YAML path (default: {preset})")
    e.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="threestudio-lite",
        description="Text/image to 3D by score distillation, on a CPU, with priors it ships itself.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("text-to-3d", help="optimize a 3D asset for a text prompt and export it",
                       usage="threestudio-lite text-to-3d PROMPT [key.path=value ...] --out DIR [options]",
                       description="Optimize a NeRF (and later stages) for PROMPT by score distillation; "
                       "writes config.yaml, checkpoints/, val/, export/model.glb, export/model.obj, turntable.mp4, "
                       "metrics.json. Any config field can be set with key.path=value arguments "
                       "(list them with `threestudio-lite config show`).")
    p.add_argument("prompt", nargs="?", help='what to make, e.g. "a red cube"')
    _add_run_options(p, "dreamfusion")
    p.set_defaults(func=cmd_text_to_3d)

    p = sub.add_parser("image-to-3d", help="turn one picture of an object into a 3D asset",
                       usage="threestudio-lite image-to-3d IMAGE [key.path=value ...] --out DIR [options]",
                       description="Optimize a NeRF so that it reproduces IMAGE (PNG/JPEG/WebP; alpha is the mask, else "
                       "the background is estimated from the border) from the reference camera and looks right from "
                       "every other view under the view-conditioned prior; same outputs as text-to-3d plus reference.png.")
    p.add_argument("image", nargs="?", help="picture of one object")
    p.add_argument("--mask", help="mask file (white = object) instead of the alpha channel or border estimate")
    p.add_argument("--elevation", type=float, help="elevation of the picture's camera in degrees (default 0)")
    p.add_argument("--azimuth", type=float, help="azimuth of the picture's camera in degrees (default 0)")
    p.add_argument("--distance", type=float, help="camera distance from the object's centre (default 2.4)")
    p.add_argument("--fovy", type=float, help="vertical field of view in degrees (default 42.5)")
    p.add_argument("--prompt", help='caption of the object for the text prior\'s guidance beside the view prior\'s; '
                   'the preset\'s "auto" recognises it with the embedded text prior, "" uses the view prior alone')
    _add_run_options(p, "zero123")
    p.set_defaults(func=cmd_image_to_3d)

    p = sub.add_parser("export", help="re-export a finished run", description="Re-export a finished run's meshes and turntable.")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=["glb", "obj", "ply"], help="only this mesh format (default: the run's export.formats)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("config", help="print a preset's resolved config", description="Print a preset with overrides applied, as YAML.")
    p.add_argument("action", choices=["show"])
    p.add_argument("preset", nargs="?", default="dreamfusion")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("world", help="the procedural world", description="Render procedural-world objects.")
    wsub = p.add_subparsers(dest="world_command", required=True, parser_class=OneLineParser)
    w = wsub.add_parser("render", help="render one object to an RGBA PNG", description="Render CAPTION's object to an RGBA PNG.")
    w.add_argument("caption", help='a world caption, e.g. "a red cube"')
    w.add_argument("--elevation", type=float, default=15.0)
    w.add_argument("--azimuth", type=float, default=0.0)
    w.add_argument("--distance", type=float, default=2.4)
    w.add_argument("--fovy", type=float, default=42.5)
    w.add_argument("--size", type=int, default=256)
    w.add_argument("--out", required=True)
    w.set_defaults(func=cmd_world_render)

    p = sub.add_parser("train-prior", help="train a mini prior on the procedural world",
                       description="Train the embedded text prior or the view-conditioned prior from scratch; writes a "
                       "diffusers-format prior folder plus training/ (loss curve, sample grids, checkpoint).")
    p.add_argument("kind", choices=["text", "view"])
    p.add_argument("--out", required=True, help="prior folder to write")
    p.add_argument("--steps", type=int, help="training steps (default 4500)")
    p.add_argument("--batch-size", type=int, help="images per step (default 64)")
    p.add_argument("--groups", type=int, help="objects rendered for the training set (8 views each; default 6000)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1.5e-3)")
    p.add_argument("--init", help="prior folder to start from (fine-tuning); new input channels start at zero")
    p.add_argument("--detail-weight", type=float,
                   help="extra loss weight on composites' thin parts and front markers (text prior; default 10)")
    p.add_argument("--light-std", type=float,
                   help="spread of the training renders' light around the camera direction (default 0.7)")
    p.add_argument("--shading", choices=["lambertian", "normal"],
                   help="training renders' shading: lit colour, or world-space normals as colours (text-to-3D's "
                   "geometry prior; default lambertian)")
    p.add_argument("--elevation-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="elevations (degrees) of the training views (default -10 45)")
    p.add_argument("--resume", action="store_true", help="continue from --out's training checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train_prior)

    p = sub.add_parser("eval", help="measure results against the procedural world's truth",
                       description="Quality checks against the procedural world.")
    esub = p.add_subparsers(dest="eval_command", required=True, parser_class=OneLineParser)
    e = esub.add_parser("prior", help="check a mini prior's samples against truth renders",
                        description="Sample a mini prior and compare with truth renders (JSON report and grids).")
    e.add_argument("kind", choices=["text", "view"])
    e.add_argument("--path", help="prior folder (default: the shipped one)")
    e.add_argument("--out", required=True)
    e.add_argument("--guidance-scale", type=float, default=1.0, help="classifier-free guidance of the samples (default 1: none)")
    e.set_defaults(func=cmd_eval_prior)
    e = esub.add_parser("text-to-3d", help="run text-to-3D on a case list and score it against the truth",
                        usage="threestudio-lite eval text-to-3d --cases CASES.jsonl --out DIR [--config PRESET] [key.path=value ...]",
                        description="Each line of CASES is {\"prompt\": ..., \"truth\": <world caption>, \"seed\": optional}. "
                        "Writes DIR/eval.json and DIR/eval.png; every case runs in its own process.")
    _add_eval_options(e, "dreamfusion", cmd_eval_text_to_3d)
    e = esub.add_parser("image-to-3d", help="run image-to-3D on pictures of world objects and score it against the truth",
                        usage="threestudio-lite eval image-to-3d --cases CASES.jsonl --out DIR [--config PRESET] [key.path=value ...]",
                        description="Each line of CASES is {\"image\": path (relative to CASES), \"truth\": <world caption>, "
                        "\"elevation\": E, \"azimuth\": A (the picture's camera), \"seed\": optional}. Scores the mesh "
                        "(IoU, Chamfer, colour) and the NeRF on 8 held-out 64x64 views (PSNR, mask IoU); writes "
                        "DIR/eval.json and DIR/eval.png.")
    _add_eval_options(e, "zero123", cmd_eval_image_to_3d)

    p = sub.add_parser("bench", help="measure renderer, prior and run speed",
                       description="Per-stage seconds of a default text-to-3D run, renderer rays·samples/s and SDS "
                                   "steps/s at 64x64 with and without occupancy skipping, prior forward time, peak RSS.")
    p.add_argument("--out", default="runs/bench", help="folder for bench.json")
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a 40-step default run")
    p.set_defaults(func=cmd_bench)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``key.path=value`` arguments are collected as config overrides."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    takes_overrides = args.func in (cmd_text_to_3d, cmd_image_to_3d, cmd_config, cmd_eval_text_to_3d, cmd_eval_image_to_3d)
    bad = [a for a in extra if a.startswith("-") or "=" not in a or not takes_overrides]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    args.overrides = extra
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    from .export.mesh import ExportError
    from .priors.loading import PriorUnavailable
    from .trainer import CheckpointError, TrainingDiverged

    try:
        args.func(args)
    except (UserError, ConfigError, CheckpointError, PriorUnavailable) as e:
        _fail(str(e))
    except ExportError as e:
        _fail(f"export failed: {e}", code=1)
    except TrainingDiverged as e:
        _fail(f"training stopped: {e}; the last good checkpoint is kept", code=1)
    except KeyboardInterrupt:
        where = getattr(args, "out", None) or getattr(args, "resume", None)
        hint = f"; continue with: threestudio-lite {args.command} --resume {where}" if where else ""
        _fail(f"interrupted, checkpoint saved{hint}", code=130)


if __name__ == "__main__":
    main()

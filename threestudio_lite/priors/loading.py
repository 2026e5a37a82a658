"""Build the prior a run asks for: the embedded default, a diffusers folder / hub id, or the
exact-denoiser stand-in over renders of the prompt's procedural-world object."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from ..data.cameras import CameraConfig, make_cameras
from ..data.views import ViewRule, view_suffix
from .base import Prior
from .exact_denoiser import ExactDenoiserPrior

PRIOR_KINDS = ("auto", "mini", "exact-denoiser", "diffusers")


def shipped_prior_dir(name: str) -> Path:
    """Folder of a mini prior shipped in the package (``text``, ``text-near-light``, ``normal`` or ``view``)."""
    return Path(str(resources.files("threestudio_lite") / "assets" / "priors" / name))


def has_shipped_prior(name: str) -> bool:
    return (shipped_prior_dir(name) / "model_index.json").is_file()


class PriorUnavailable(ValueError):
    """The requested prior cannot be built here (unknown object, missing weights, ...)."""


def world_exact_denoiser(prompt: str, camera: CameraConfig, image_size: int = 32) -> ExactDenoiserPrior:
    """Exact denoiser over renders of the world object the prompt names, captioned with view suffixes.

    Views cover the camera sampler's elevation range and the full azimuth circle, so every view the
    optimizer draws has images of its own view name (front/side/back/overhead) to be pulled towards."""
    from ..world.captions import object_from_caption
    from ..world.render import composite, render

    try:
        obj = object_from_caption(prompt)
    except ValueError as e:
        raise PriorUnavailable(f"the exact-denoiser prior only knows procedural-world objects: {e}") from None
    lo, hi = camera.elevation_range
    elevations = torch.linspace(lo, hi, 4)
    azimuths = torch.arange(0.0, 360.0, 15.0)
    el, az = torch.meshgrid(elevations, azimuths, indexing="ij")
    cams = make_cameras(el.reshape(-1), az.reshape(-1), sum(camera.distance_range) / 2, sum(camera.fovy_range) / 2,
                        image_size, image_size)
    images = composite(render(obj, cams), (1.0, 1.0, 1.0)).permute(0, 3, 1, 2)
    names = ViewRule().names(cams.elevation, cams.azimuth)
    captions = [prompt + view_suffix(n) for n in names]
    return ExactDenoiserPrior(
        images, captions,
        description=f"exact-denoiser stand-in over {len(captions)} renders of '{prompt}' ({image_size}x{image_size}); "
        "no trained prior is shipped yet",
    )


def quiet_libraries() -> None:
    """Keep diffusers/transformers/hub loading chatter (progress bars, retries, deprecation notes) off the terminal."""
    import warnings

    import diffusers
    import huggingface_hub
    import transformers

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    huggingface_hub.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module="huggingface_hub")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (a quick check before any download retries)."""
    import socket

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = constants.ENDPOINT.split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_prior(config, prompt: str, camera: CameraConfig, device: torch.device) -> Prior:
    """The prior named by a PriorConfig, on ``device``."""
    quiet_libraries()
    if config.kind not in PRIOR_KINDS:
        raise PriorUnavailable(f"unknown prior kind {config.kind!r}; expected one of {PRIOR_KINDS}")
    shipped = config.shipped or "text"
    if config.kind == "mini" or (config.kind == "auto" and (config.shipped or has_shipped_prior(shipped))):
        from .mini.text_prior import MiniTextPrior

        path = Path(config.path) if config.path else shipped_prior_dir(shipped)
        if not (path / "model_index.json").is_file():
            raise PriorUnavailable(f"no mini text prior at {path} (train one with `threestudio-lite train-prior text`)")
        prior = MiniTextPrior.from_pretrained(path, device)
    elif config.kind == "diffusers":
        from .diffusers_text import DiffusersTextPrior

        prior = load_diffusers(DiffusersTextPrior, config, device)
    else:
        prior = world_exact_denoiser(prompt, camera).to(device)
    prior.view_dependent = config.view_dependent
    prior.perp_neg = config.perp_neg
    if config.perp_neg and not config.view_dependent:
        raise PriorUnavailable("prior.perp_neg needs prior.view_dependent=true (it mixes the view prompts)")
    if config.perp_neg and isinstance(prior, ExactDenoiserPrior):
        raise PriorUnavailable("prior.perp_neg interpolates text embeddings; the exact-denoiser prior's are image masks")
    return prior


def load_diffusers(backend, config, device: torch.device) -> Prior:
    """``backend(path, device, dtype, local_files_only)`` for ``config.path`` (a folder or hub id), or
    PriorUnavailable saying how to provide the weights. Without a reachable hub, a hub id is read from the
    local cache only."""
    path = config.path
    if not path:
        raise PriorUnavailable("prior.kind=diffusers needs prior.path (a local folder or a hub id)")
    offline = not Path(path).is_dir() and not hub_reachable()
    try:
        # Half precision on a GPU (as the papers' code runs these models); full precision on the CPU.
        prior = backend(path, device, torch.float16 if device.type == "cuda" else torch.float32, local_files_only=offline)
        if config.attention_slicing:
            prior.unet.set_attention_slice("auto")
        if config.cpu_offload:
            prior.encoder_offload = True
            prior.encoder.to("cpu")  # visits the device only inside ``visiting`` (see diffusers_text)
        return prior
    except OSError as e:
        where = ("it is not a local folder, no model hub is reachable and the local Hugging Face cache does not "
                 "hold it" if offline else f"not a complete local folder or hub model ({str(e).splitlines()[0]})")
        raise PriorUnavailable(
            f"cannot load the diffusers prior '{path}': {where}; download it where a hub is reachable "
            f"(huggingface-cli download {path} --local-dir DIR) and pass prior.path=DIR"
        ) from None


def load_view_prior(config, device: torch.device) -> Prior:
    """The view-conditioned prior of image-to-3D: the embedded mini view prior (``auto``/``mini``, or a
    folder of one in ``prior.path``), or a Zero-1-to-3 diffusers checkpoint (``diffusers``)."""
    from .mini.view_prior import MiniViewPrior

    quiet_libraries()
    if config.kind == "diffusers":
        from .zero123 import POSE_CONVENTIONS, Zero123Prior

        if config.pose_convention not in POSE_CONVENTIONS:
            raise PriorUnavailable(f"unknown prior.pose_convention {config.pose_convention!r}; "
                                   f"expected one of {POSE_CONVENTIONS}")
        prior = load_diffusers(Zero123Prior, config, device)
        prior.pose_convention = config.pose_convention
        return prior
    if config.kind not in ("auto", "mini"):
        raise PriorUnavailable(f"image-to-3d takes prior.kind auto, mini or diffusers, got {config.kind!r}")
    path = Path(config.path) if config.path else shipped_prior_dir(config.shipped or "view")
    if not (path / "model_index.json").is_file():
        raise PriorUnavailable(f"no mini view prior at {path} (train one with `threestudio-lite train-prior view`)")
    return MiniViewPrior.from_pretrained(path, device)

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_text_prior_dir(tmp_path_factory):
    from tiny_priors import make_tiny_text_prior

    return make_tiny_text_prior(tmp_path_factory.mktemp("tiny_prior"))


def _tiny_folder(tmp_path_factory, builder_name: str):
    import tiny_priors

    return getattr(tiny_priors, builder_name)(tmp_path_factory.mktemp(builder_name))


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    return _tiny_folder(tmp_path_factory, "make_tiny_stable_diffusion")


@pytest.fixture(scope="session")
def tiny_if_dir(tmp_path_factory):
    return _tiny_folder(tmp_path_factory, "make_tiny_deepfloyd_if")


@pytest.fixture(scope="session")
def tiny_zero123_dir(tmp_path_factory):
    return _tiny_folder(tmp_path_factory, "make_tiny_zero123")


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def gltf_validator():
    """Validate a .glb with the Khronos glTF validator (tools/gltf_validator.py; `make test` installs it into
    .tools/): the report's error and warning counts and messages."""
    sys.path.insert(0, str(ROOT / "tools"))
    import gltf_validator

    if not gltf_validator.installed():
        pytest.fail("the Khronos glTF validator is not installed: run `make test` once (it installs it into .tools/)")
    return gltf_validator.validate


@pytest.fixture(scope="session", autouse=True)
def every_glb_the_tests_write_is_valid_gltf(tmp_path_factory, gltf_validator):
    """After the session, every GLB written under the session's temporary folders passes the validator."""
    yield
    reports = {path: gltf_validator(path) for path in tmp_path_factory.getbasetemp().rglob("*.glb")}
    invalid = {str(path): r["messages"][:3] for path, r in reports.items() if r["errors"] > 0}
    assert not invalid, f"GLBs with glTF validation errors: {invalid}"

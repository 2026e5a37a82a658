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

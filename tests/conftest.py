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

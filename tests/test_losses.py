"""The opacity regularizers: their values at known opacities and the direction they push."""

import math

import torch

from threestudio_lite import losses


def test_opacity_entropy_is_binary_entropy_and_pushes_fog_to_solid_or_empty():
    opacity = torch.tensor([0.5, 0.68, 0.3, 1.0], requires_grad=True)
    value = losses.opacity_entropy({"opacity": opacity})
    h = lambda o: -(o * math.log(o) + (1 - o) * math.log(1 - o))  # noqa: E731
    expected = (h(0.5) + h(0.68) + h(0.3) + h(1.0 - 1e-4)) / 4
    assert abs(value.item() - expected) < 1e-5
    value.backward()
    grad = opacity.grad
    # Gradient descent raises 0.68 towards 1, lowers 0.3 towards 0; 0.5 is the maximum (zero gradient).
    assert grad[1] < -0.1 and grad[2] > 0.1 and abs(grad[0]) < 1e-6


def test_sparsity_grows_with_opacity():
    low = losses.sparsity({"opacity": torch.full((8,), 0.1)})
    high = losses.sparsity({"opacity": torch.full((8,), 0.9)})
    assert abs(low.item() - math.sqrt(0.02)) < 1e-6 and abs(high.item() - math.sqrt(0.82)) < 1e-6

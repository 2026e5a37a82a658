"""Backgrounds behind the object: a solid colour, or a small learned environment (colour by ray direction)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BackgroundConfig:
    kind: str = "solid"  # "solid" or "learned"
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Learned environment: frequencies of the direction encoding and hidden width of its MLP.
    frequencies: int = 2
    hidden: int = 16


class Background(torch.nn.Module):
    def __init__(self, config: BackgroundConfig):
        super().__init__()
        if config.kind not in ("solid", "learned"):
            raise ValueError(f"background.kind must be 'solid' or 'learned', got {config.kind!r}")
        self.config = config
        self.register_buffer("color", torch.tensor(config.color, dtype=torch.float32))
        if config.kind == "learned":
            width = 3 + 6 * config.frequencies
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(width, config.hidden), torch.nn.ReLU(), torch.nn.Linear(config.hidden, 3)
            )

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        """Background colour (..., C) for unit ray directions (..., 3); C is 3 except behind latent renders."""
        if self.config.kind == "solid":
            return self.color.expand(*directions.shape[:-1], -1)
        bands = [directions]
        for k in range(self.config.frequencies):
            bands += [torch.sin((2.0**k) * torch.pi * directions), torch.cos((2.0**k) * torch.pi * directions)]
        return torch.sigmoid(self.mlp(torch.cat(bands, -1)))

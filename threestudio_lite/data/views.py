"""The view-naming rule shared by the prompt processor and the procedural world's captions.

A camera looking from elevation above ``overhead_elevation`` is "overhead"; otherwise the azimuth decides:
within ``front_half_width`` degrees of 0 is "front", within ``back_half_width`` of 180 is "back", the
rest is "side" (threestudio's rule and thresholds)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

VIEW_NAMES = ("front", "side", "back", "overhead")


@dataclass
class ViewRule:
    front_half_width: float = 45.0
    back_half_width: float = 45.0
    overhead_elevation: float = 60.0

    def names(self, elevation: torch.Tensor, azimuth: torch.Tensor) -> list[str]:
        """View name per camera, elevation and azimuth in degrees."""
        el, az = torch.broadcast_tensors(torch.as_tensor(elevation, dtype=torch.float32).reshape(-1),
                                         torch.as_tensor(azimuth, dtype=torch.float32).reshape(-1))
        az = (az + 180.0) % 360.0 - 180.0
        out = []
        for e, a in zip(el.tolist(), az.tolist()):
            if e > self.overhead_elevation:
                out.append("overhead")
            elif abs(a) < self.front_half_width:
                out.append("front")
            elif abs(a) > 180.0 - self.back_half_width:
                out.append("back")
            else:
                out.append("side")
        return out


def view_suffix(name: str) -> str:
    """Caption suffix for a view name, e.g. ", side view"."""
    if name not in VIEW_NAMES:
        raise ValueError(f"unknown view {name!r}; expected one of {VIEW_NAMES}")
    return f", {name} view"

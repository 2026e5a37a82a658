"""Scalars that change during a stage: a constant, or piecewise-linear in the stage's progress.

A schedule is written in YAML either as a number (constant) or as a list of ``[progress, value]`` points
with progress in [0, 1] of the stage's steps, e.g. ``t_max: [[0.0, 0.98], [0.5, 0.5]]`` anneals from
0.98 to 0.5 over the first half of the stage and stays at 0.5. Progress rather than absolute steps keeps a
preset meaningful when ``--steps`` changes the length of a run."""

from __future__ import annotations

from typing import Union

Schedule = Union[float, list]


def check_schedule(value, where: str) -> Schedule:
    """Validate a schedule value read from a config; raises ValueError naming ``where``."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number or a list of [progress, value] points, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)) and value:
        points = []
        for p in value:
            if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)):
                raise ValueError(f"{where}: schedule points must be [progress, value] pairs, got {p!r}")
            points.append([float(p[0]), float(p[1])])
        xs = [p[0] for p in points]
        if xs != sorted(xs) or xs[0] < 0.0 or xs[-1] > 1.0:
            raise ValueError(f"{where}: schedule progress values must rise within [0, 1], got {xs}")
        return points
    raise ValueError(f"{where}: expected a number or a list of [progress, value] points, got {value!r}")


def value_at(schedule: Schedule, progress: float) -> float:
    """The schedule's value at stage progress in [0, 1] (held constant outside its points)."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    if progress <= schedule[0][0]:
        return schedule[0][1]
    for (x0, y0), (x1, y1) in zip(schedule, schedule[1:]):
        if progress <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (progress - x0) / (x1 - x0)
    return schedule[-1][1]


def schedule_values(schedule: Schedule) -> list[float]:
    """Every value the schedule takes at its points (between them it interpolates, so these bound it)."""
    return [float(schedule)] if isinstance(schedule, (int, float)) else [v for _, v in schedule]


def ever_positive(schedule: Schedule) -> bool:
    """Whether the schedule is above zero anywhere (a loss it weights is then computed at some step)."""
    return max(schedule_values(schedule)) > 0

"""Obstacles in the flow channel: circles, ellipses, rectangles and triangles.

An :class:`Obstacle` is a shape with a centre, a half-extent ``size`` (the radius of the
smallest disk around the centre that holds it), an aspect ratio and a rotation. Each shape
has an exact gmsh (OpenCASCADE) construction for meshing and a dense boundary polygon for
everything else (fit checks, areas, frontal heights, the mesh-size estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Obstacle shapes the channel geometry knows.
SHAPES = ("circle", "ellipse", "rectangle", "triangle")
#: Boundary polygon resolution of curved shapes (points per obstacle).
_OUTLINE_POINTS = 256


@dataclass(frozen=True)
class Obstacle:
    """One solid obstacle.

    Attributes:
        shape: one of :data:`SHAPES`.
        centre: ``(x, y)``, m (the circumcentre for triangles, the centroid otherwise).
        size: half-extent, m: radius of a circle, semi-major axis of an ellipse, half the
            diagonal of a rectangle, circumradius of an (isosceles) triangle.
        aspect: minor / major extent in ``(0, 1]``: ellipse ``b / a``; rectangle
            ``height / width``; triangle: 1 is equilateral, smaller is a narrower wedge.
            Ignored for circles.
        angle: rotation about the centre, radians counter-clockwise (0: the major axis, or
            a triangle's apex, points downstream along +x).
    """

    shape: str
    centre: tuple[float, float]
    size: float
    aspect: float = 1.0
    angle: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", tuple(float(c) for c in self.centre))
        if self.shape not in SHAPES:
            raise ValueError(f"unknown obstacle shape {self.shape!r}; choose one of {SHAPES}")
        if not self.size > 0:
            raise ValueError(f"obstacle size must be positive, got {self.size}")
        if not 0 < self.aspect <= 1:
            raise ValueError(f"obstacle aspect must be in (0, 1], got {self.aspect}")

    def outline(self) -> np.ndarray:
        """``[P, 2]`` counter-clockwise boundary polygon, m (exact corners for polygons)."""
        cx, cy = self.centre
        if self.shape in ("circle", "ellipse"):
            b = self.size * (1.0 if self.shape == "circle" else self.aspect)
            t = np.linspace(0.0, 2.0 * math.pi, _OUTLINE_POINTS, endpoint=False)
            local = np.stack([self.size * np.cos(t), b * np.sin(t)], axis=1)
        elif self.shape == "rectangle":
            half = self._rectangle_half_sides()
            local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float) * half
        else:
            local = self._triangle_vertices()
        c, s = math.cos(self.angle), math.sin(self.angle)
        rotated = local @ np.array([[c, s], [-s, c]])
        return rotated + np.array([cx, cy])

    def _rectangle_half_sides(self) -> np.ndarray:
        # Half-diagonal `size`, height / width = aspect.
        half_width = self.size / math.sqrt(1.0 + self.aspect**2)
        return np.array([half_width, self.aspect * half_width])

    def _triangle_vertices(self) -> np.ndarray:
        # Apex on +x at the circumradius; the base vertices at +-(pi - half_angle) where
        # aspect 1 gives 120 degrees (equilateral) and smaller aspects a narrower wedge.
        spread = math.pi * (1.0 - self.aspect / 3.0)
        angles = np.array([0.0, spread, -spread])
        # 0 < spread < pi, so (0, spread, -spread) runs counter-clockwise.
        return self.size * np.stack([np.cos(angles), np.sin(angles)], axis=1)

    @property
    def area(self) -> float:
        """Solid area, m^2 (exact for every shape)."""
        if self.shape == "circle":
            return math.pi * self.size**2
        if self.shape == "ellipse":
            return math.pi * self.size**2 * self.aspect
        return abs(polygon_area(self.outline()))

    @property
    def frontal_height(self) -> float:
        """Extent across the flow (``max y - min y``), m: the length scale of Re and St."""
        y = self.outline()[:, 1]
        return float(y.max() - y.min())

    def add_to(self, occ: Any) -> int:
        """Build this obstacle as an OpenCASCADE surface; returns its tag (dimension 2)."""
        cx, cy = self.centre
        if self.shape in ("circle", "ellipse"):
            b = self.size * (1.0 if self.shape == "circle" else self.aspect)
            tag = occ.addDisk(cx, cy, 0.0, self.size, b)  # OCC needs rx >= ry
        elif self.shape == "rectangle":
            hw, hh = self._rectangle_half_sides()
            tag = occ.addRectangle(cx - hw, cy - hh, 0.0, 2 * hw, 2 * hh)
        else:
            corners = self.outline()  # rotated and placed
            points = [occ.addPoint(float(x), float(y), 0.0) for x, y in corners]
            lines = [occ.addLine(points[i], points[(i + 1) % 3]) for i in range(3)]
            return occ.addPlaneSurface([occ.addCurveLoop(lines)])
        if self.angle and self.shape != "circle":
            occ.rotate([(2, tag)], cx, cy, 0.0, 0.0, 0.0, 1.0, self.angle)
        return tag

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (stored in trajectory files and manifests)."""
        return {
            "shape": self.shape,
            "centre": list(self.centre),
            "size": self.size,
            "aspect": self.aspect,
            "angle": self.angle,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Obstacle:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(values["shape"]),
            tuple(values["centre"]),  # type: ignore[arg-type]
            float(values["size"]),
            float(values.get("aspect", 1.0)),
            float(values.get("angle", 0.0)),
        )


def polygon_area(points: np.ndarray) -> float:
    """Signed area of a closed polygon ``[P, 2]`` (positive when counter-clockwise), m^2."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``[M]`` bool: which of ``points [M, 2]`` lie inside ``polygon [P, 2]``."""
    from matplotlib.path import Path  # C point-in-polygon, no pyplot

    return Path(polygon).contains_points(points)

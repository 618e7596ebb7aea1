"""Nested polygons that tile exactly: rectangles of a warped lattice.

Every unit of the city (district … grid) is a rectangle of cells in an integer index
space; children partition their parent's rectangle by guillotine cuts. Geometry comes
from one shared lattice of vertices that is jittered, gently warped and squeezed towards
the old town (a fisheye, so the dense core gets small units), then rounded. A unit's
polygon walks every lattice vertex on its rectangle's border, so neighbours share
vertices exactly: children lie inside their parent, siblings never overlap, and there
are no gaps, without any polygon clipping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Cells ``[i0, i1) x [j0, j1)``; i grows eastwards, j northwards.
Rect = tuple[int, int, int, int]
#: A fixed layout: ("h", [...]) lays children west to east, ("v", [...]) north to south;
#: leaves are keys of the weights.
Layout = str | tuple[str, Sequence["Layout"]]

KM_PER_DEG_LAT = 111.0


def _cut(length: int, thick: int, share: float, need_a: int, need_b: int) -> int | None:
    """Where to cut a side of ``length`` cells (``thick`` across) so part A gets about
    ``share`` of it and each part at least its needed cells; None if impossible."""
    lo = max(1, math.ceil(need_a / thick))
    hi = length - max(1, math.ceil(need_b / thick))
    if lo > hi:
        return None
    return min(max(round(length * share), lo), hi)


def bisect(rect: Rect, weights: Sequence[float], needs: Sequence[int]) -> list[Rect]:
    """Partition ``rect`` into one rectangle per weight, areas roughly proportional,
    each child with at least ``needs[k]`` cells; consecutive children stay adjacent."""
    if len(weights) == 1:
        return [rect]
    total = float(sum(weights))
    cum = np.cumsum(weights)
    order = np.argsort(np.abs(cum[:-1] - total / 2), kind="stable")
    i0, j0, i1, j1 = rect
    width, height = i1 - i0, j1 - j0
    for k in order + 1:  # split before child k, most balanced first
        share = float(cum[k - 1]) / total
        need_a, need_b = sum(needs[:k]), sum(needs[k:])
        axes = ("i", "j") if width >= height else ("j", "i")
        for axis in axes:
            length, thick = (width, height) if axis == "i" else (height, width)
            c = _cut(length, thick, share, need_a, need_b)
            if c is None:
                continue
            if axis == "i":
                a, b = (i0, j0, i0 + c, j1), (i0 + c, j0, i1, j1)
            else:  # part A to the north
                a, b = (i0, j1 - c, i1, j1), (i0, j0, i1, j1 - c)
            return bisect(a, weights[:k], needs[:k]) + bisect(b, weights[k:], needs[k:])
    raise ValueError(f"cannot fit {len(weights)} parts needing {sum(needs)} cells into {rect}")


def _along(rect: Rect, axis: str, weights: list[float], needs: list[int]) -> list[Rect]:
    """Cut ``rect`` into consecutive strips: west→east ("h") or north→south ("v")."""
    i0, j0, i1, j1 = rect
    out: list[Rect] = []
    for k in range(len(weights) - 1):
        rest_w = sum(weights[k:])
        if axis == "h":
            c = _cut(i1 - i0, j1 - j0, weights[k] / rest_w, needs[k], sum(needs[k + 1 :]))
            if c is None:
                raise ValueError(f"layout does not fit into {rect}")
            out.append((i0, j0, i0 + c, j1))
            i0 += c
        else:
            c = _cut(j1 - j0, i1 - i0, weights[k] / rest_w, needs[k], sum(needs[k + 1 :]))
            if c is None:
                raise ValueError(f"layout does not fit into {rect}")
            out.append((i0, j1 - c, i1, j1))
            j1 -= c
    out.append((i0, j0, i1, j1))
    return out


def lay_out(
    rect: Rect, layout: Layout, weights: dict[str, float], needs: dict[str, int]
) -> dict[str, Rect]:
    """Rectangles for the leaves of a hand-drawn ``layout``, sized by ``weights``."""

    def total(node: Layout, table: dict[str, float] | dict[str, int]) -> float:
        return table[node] if isinstance(node, str) else sum(total(c, table) for c in node[1])

    if isinstance(layout, str):
        return {layout: rect}
    axis, children = layout
    parts = _along(
        rect,
        axis,
        [total(c, weights) for c in children],
        [int(total(c, needs)) for c in children],
    )
    out: dict[str, Rect] = {}
    for child, part in zip(children, parts, strict=True):
        out.update(lay_out(part, child, weights, needs))
    return out


@dataclass(frozen=True, slots=True)
class Frame:
    """Where the city lies: its centre and the half-extents it must fit within (km)."""

    lon: float
    lat: float
    half_width_km: float
    half_height_km: float


@dataclass(frozen=True)
class Lattice:
    """Vertex coordinates (rounded WGS-84 degrees) of an ``nx`` by ``ny`` cell lattice."""

    lon: NDArray[np.float64]  #: shape (nx + 1, ny + 1)
    lat: NDArray[np.float64]

    def borders(self, rects: Sequence[Rect]) -> list[list[list[float]]]:
        """Closed counter-clockwise rings ``[[lon, lat], ...]`` around each rectangle,
        walking every lattice vertex on the way (built for all rectangles at once)."""
        r = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
        i0, j0, i1, j1 = r.T
        w, h = i1 - i0, j1 - j0
        lengths = 2 * (w + h) + 1
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        ring = np.repeat(np.arange(len(r)), lengths)
        p = np.arange(lengths.sum()) - starts[ring]  # position along each ring
        i0, j0, i1, j1, w, h = i0[ring], j0[ring], i1[ring], j1[ring], w[ring], h[ring]
        east, north, west = p <= w, p <= w + h, p <= 2 * w + h
        ii = np.select([east, north, west], [i0 + p, i1, i1 - (p - w - h)], i0)
        jj = np.select([east, north, west], [j0, j0 + p - w, j1], j1 - (p - 2 * w - h))
        coords = np.column_stack([self.lon[ii, jj], self.lat[ii, jj]]).tolist()
        ends = starts + lengths
        return [coords[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def make_lattice(
    nx: int,
    ny: int,
    rng: np.random.Generator,
    *,
    core: Rect,
    frame: Frame,
    jitter: float = 0.2,
    core_scale: float = 0.3,
    core_reach: float = 1.4,
) -> Lattice:
    """A jittered, warped lattice whose ``core`` rectangle is squeezed to ``core_scale``.

    Jitter below 0.25 cells keeps every cell a convex quadrilateral. The smooth warp has
    gradients well below 1 and the squeeze ``p -> p * h(r)`` keeps rays and is monotone
    along them (r is the elliptic radius over the core's half-extents), so both are
    one-to-one and the cells stay a proper tiling.
    """
    shape = (nx + 1, ny + 1)
    i = np.arange(nx + 1, dtype=np.float64)[:, None] + rng.uniform(-jitter, jitter, shape)
    j = np.arange(ny + 1, dtype=np.float64)[None, :] + rng.uniform(-jitter, jitter, shape)
    scale = max(nx, ny) / 2.0
    ci, cj = (core[0] + core[2]) / 2, (core[1] + core[3]) / 2
    rx = core_reach * (core[2] - core[0]) / 2 / scale
    ry = core_reach * (core[3] - core[1]) / 2 / scale
    x, y = (i - ci) / scale, (j - cj) / scale
    # Gentle waves (slope <= 2 * 2pi * 1.1 * 0.03 ~ 0.4, so nothing folds over).
    freq, phase, amp = rng.uniform(0.6, 1.1, 4), rng.uniform(0, 2 * np.pi, 4), 0.03

    def wave(k: int, t: NDArray[np.float64]) -> NDArray[np.float64]:
        return amp * np.sin(2 * np.pi * freq[k] * t + phase[k])

    x, y = x + wave(0, y) + wave(1, x + y), y + wave(2, x) + wave(3, x - y)
    r = np.hypot(x / rx, y / ry)
    squeeze = 1 - (1 - core_scale) * np.exp(-(r**2))
    x, y = x * squeeze, y * squeeze
    # Fit into the frame keeping kilometres isotropic.
    cx, cy = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
    km = min(
        frame.half_width_km / ((x.max() - x.min()) / 2),
        frame.half_height_km / ((y.max() - y.min()) / 2),
    )
    km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(frame.lat))
    lon = np.round(frame.lon + (x - cx) * km / km_per_deg_lon, 6)
    lat = np.round(frame.lat + (y - cy) * km / KM_PER_DEG_LAT, 6)
    return Lattice(lon=lon, lat=lat)


def centroids(rings: Sequence[Sequence[Sequence[float]]]) -> NDArray[np.float64]:
    """Area centroids ``(n, 2)`` of closed rings, all at once (planar in degrees, which is
    fine at city scale), rounded to 6 decimals."""
    lengths = np.array([len(ring) for ring in rings])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    xy = np.array([pt for ring in rings for pt in ring], dtype=np.float64).reshape(-1, 2)
    lon, lat = xy[:, 0], xy[:, 1]
    x = lon - np.repeat(lon[starts], lengths)  # relative to each ring's first vertex
    y = lat - np.repeat(lat[starts], lengths)
    xn, yn = np.append(x[1:], 0.0), np.append(y[1:], 0.0)
    cross = x * yn - xn * y
    cross[starts + lengths - 1] = 0.0  # the last vertex closes its own ring
    area = np.add.reduceat(cross, starts) / 2
    cx = np.add.reduceat((x + xn) * cross, starts) / (6 * area) + lon[starts]
    cy = np.add.reduceat((y + yn) * cross, starts) / (6 * area) + lat[starts]
    return np.round(np.column_stack([cx, cy]), 6)

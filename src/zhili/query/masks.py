"""Masking functions the engines call inside a scoped relation (see :class:`Scope`).

The query layer does not know masking rules; the exchange registers, under a stable id, a
function from an Arrow string array to an Arrow string array (its rule and, for keyed
hashing, its key bound in), and a scope names the id per field. Engines expose one SQL
function, ``zhili_mask(value, id)``, vectorised over Arrow batches; the id carries no
secret, so SQL text and error messages never hold a hashing key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from zhili.query.messages import unavailable

MaskFn = Callable[[pa.Array], pa.Array]
_REGISTRY: dict[str, MaskFn] = {}
_LOCK = threading.Lock()


def register_mask(mask_id: str, fn: MaskFn) -> str:
    """Make ``fn`` callable as ``zhili_mask(value, mask_id)``; idempotent per id."""
    with _LOCK:
        _REGISTRY.setdefault(mask_id, fn)
    return mask_id


def apply_mask(values: pa.Array, ids: pa.Array) -> pa.Array:
    """The UDF body: mask ``values`` with the function named in ``ids`` (constant per call
    in practice; grouped when not)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    distinct = pc.unique(ids).to_pylist()
    if len(distinct) == 1:
        return lookup_mask(distinct[0])(values.cast(pa.string()))
    out: list[object] = [None] * len(values)
    for mask_id in distinct:
        where = pc.equal(ids, mask_id)
        masked = lookup_mask(mask_id)(pc.filter(values, where).cast(pa.string())).to_pylist()
        positions = pc.indices_nonzero(where).to_pylist()
        for pos, value in zip(positions, masked, strict=True):
            out[pos] = value
    return pa.array(out, pa.string())


def lookup_mask(mask_id: str | None) -> MaskFn:
    fn = _REGISTRY.get(mask_id or "")
    if fn is None:  # a scope built in another process and not registered here: refuse
        raise unavailable("query.unknown_mask", id=mask_id)
    return fn

"""Catalog events: other layers hear of a new version without the catalog knowing them.

:func:`zhili.catalog.service.record_version` calls :func:`version_recorded` inside the
loading transaction, once the committed version is noted; each listener runs in that same
transaction, so what it writes (a subscription's delivery, say) commits with the version
or not at all. A listener must be quick — no network calls — and may not fail the load
for its own reasons.

Built-in listeners are found the way an outside one would be: by module name in
:data:`DEFAULT_LISTENERS`, imported on the first event (a module registers itself with
:func:`on_version` at import), so the catalog never imports the layers above it::

    from zhili.catalog.events import on_version

    @on_version
    def announce(session, resource, version, previous):
        ...
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zhili.catalog.models import LakeVersion, Resource

#: ``listener(session, resource, version_row, previous_version_number_or_None)``
Listener = Callable[["Session", "Resource", "LakeVersion", "int | None"], object]

#: Modules holding the platform's own listeners (subscriptions announce new versions;
#: verification schedules fall due).
DEFAULT_LISTENERS: tuple[str, ...] = (
    "zhili.exchange.subscriptions",
    "zhili.apps.verify.schedules",
)

_listeners: list[Listener] = []
_loaded = False
_lock = threading.Lock()


def on_version(fn: Listener) -> Listener:
    """Register ``fn`` to hear of every recorded version (idempotent)."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def _load_defaults() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            for name in DEFAULT_LISTENERS:
                importlib.import_module(name)
            _loaded = True


def version_recorded(
    session: Session, resource: Resource, version: LakeVersion, previous: int | None
) -> None:
    """Tell every listener that ``version`` of ``resource`` was recorded (``previous``:
    the version that was current before it, None for the first)."""
    _load_defaults()
    for fn in list(_listeners):
        fn(session, resource, version, previous)

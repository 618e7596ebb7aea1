"""Liveness and readiness probes for process supervisors and load balancers."""

from __future__ import annotations

import os
import tempfile

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from zhili.web.deps import SettingsDep, authorize, get_database

router = APIRouter(tags=["system"])


@router.get("/healthz", dependencies=[Depends(authorize("system.health"))])
def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(authorize("system.health"))])
def readyz(settings: SettingsDep, db=Depends(get_database)) -> JSONResponse:
    """Ready to serve: the database answers and ZHILI_HOME is writable."""
    checks = {"database": db.ping(), "home_writable": _writable(str(settings.home))}
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".ready-"):
            return True
    except OSError:
        return False

#!/usr/bin/env python3
"""Copy the browser assets zhili serves itself into src/zhili/web/static/vendor/.

Why this exists: the platform runs on networks with no CDN access, so htmx, ECharts and
Leaflet are served from our own static directory. They come from npm (frontend/package.json,
pinned to the majors we write against: htmx 2, ECharts 5, Leaflet 1.9) and are copied to
stable names here so templates never mention a version:

    vendor/htmx.min.js
    vendor/echarts.min.js
    vendor/leaflet/leaflet.js
    vendor/leaflet/leaflet.css
    vendor/leaflet/images/*
    vendor/VERSIONS.json

The vendor directory is gitignored and rebuilt by scripts/setup.sh after `npm ci`.
Standard library only; run with any python3 >= 3.11.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO / "frontend" / "node_modules"
VENDOR = REPO / "src" / "zhili" / "web" / "static" / "vendor"

# package -> (required major.minor prefix, [(source relative to the package, target in vendor)])
ASSETS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "htmx.org": ("2.", [("dist/htmx.min.js", "htmx.min.js")]),
    "echarts": ("5.", [("dist/echarts.min.js", "echarts.min.js")]),
    "leaflet": (
        "1.9",
        [
            ("dist/leaflet.js", "leaflet/leaflet.js"),
            ("dist/leaflet.css", "leaflet/leaflet.css"),
            ("dist/images", "leaflet/images"),
        ],
    ),
    "swagger-ui-dist": (
        "5.",
        [
            ("swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"),
            ("swagger-ui.css", "swagger-ui/swagger-ui.css"),
        ],
    ),
}


def package_version(name: str) -> str:
    meta = NODE_MODULES / name / "package.json"
    if not meta.is_file():
        sys.exit(f"vendor: {meta} is missing; run `npm ci --prefix frontend` first")
    return json.loads(meta.read_text(encoding="utf-8"))["version"]


def main() -> int:
    versions: dict[str, str] = {}
    staging = VENDOR.with_name("vendor.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    for name, (prefix, files) in ASSETS.items():
        version = package_version(name)
        if not version.startswith(prefix):
            sys.exit(f"vendor: {name} {version} installed but {prefix}x is pinned; fix the lock")
        versions[name] = version
        for src_rel, dst_rel in files:
            src = NODE_MODULES / name / src_rel
            dst = staging / dst_rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            elif src.is_file():
                shutil.copyfile(src, dst)
            else:
                sys.exit(f"vendor: {src} not found in {name} {version}")

    (staging / "VERSIONS.json").write_text(
        json.dumps(versions, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )

    # Swap the finished tree in, so a half-copied vendor dir is never served.
    old = VENDOR.with_name("vendor.old")
    shutil.rmtree(old, ignore_errors=True)
    if VENDOR.exists():
        VENDOR.rename(old)
    staging.rename(VENDOR)
    shutil.rmtree(old, ignore_errors=True)

    summary = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    print(f"vendor: {summary} -> {VENDOR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

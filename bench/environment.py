"""The benchmark's own virtual environment, so the alternatives never touch the project's.

`.bench-venv/` at the repository root gets `bench/requirements.txt` (FastAPI, vapiserve,
uvicorn's fast HTTP parser and loop, the SDK, matplotlib) and this project, editable, so
the benchmark always measures the working tree. It is rebuilt only when the requirements or
`pyproject.toml` change; then `python -m bench` re-runs itself inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Final

from bench.servers import REPO_ROOT

VENV_DIR: Final = REPO_ROOT / ".bench-venv"
REQUIREMENTS: Final = REPO_ROOT / "bench" / "requirements.txt"
INSTALL_TIMEOUT: Final = 900.0
_STAMP: Final = ".bench-requirements.sha256"


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def ensure_venv() -> Path:
    """Create or update `.bench-venv` as needed; its interpreter.

    Raises:
        SystemExit: pip failed; its output is shown.
    """
    wanted = _fingerprint()
    stamp = VENV_DIR / _STAMP
    if venv_python().exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python()
    if not venv_python().exists():
        print(f"bench: creating {VENV_DIR.name}/ (once)", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    print(
        f"bench: installing {REQUIREMENTS.relative_to(REPO_ROOT)} into {VENV_DIR.name}/", flush=True
    )
    command = [
        str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-r", str(REQUIREMENTS), "-e", str(REPO_ROOT),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, timeout=INSTALL_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SystemExit(f"bench: installing the benchmark's environment failed: {exc}") from exc
    stamp.write_text(wanted)
    return venv_python()


def reexec_inside(python: Path, argv: list[str]) -> None:
    """Replace this process with `python -m bench argv` (does not return)."""
    os.execv(python, [str(python), "-m", "bench", *argv])


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, REPO_ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()

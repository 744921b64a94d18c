"""Where the SWORD Bible modules live, and a cheap check that they are there (no torch, no pysword import)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ENGLISH, SPANISH = "engWEB2015eb", "spaRV1909eb"
INSTALL = "apt-get install sword-text-web sword-text-sparv"


def sword_path() -> Path:
    """The SWORD library folder (holding mods.d/): $SWORD_PATH, else Debian's /usr/share/sword."""
    return Path(os.environ.get("SWORD_PATH") or "/usr/share/sword")


def missing_reason() -> str | None:
    """Why the corpus cannot be read here (pysword or a module missing), or None. Opens no module."""
    if importlib.util.find_spec("pysword") is None:
        return "needs the pysword package: pip install 'harness[translation]' (or pip install pysword)"
    root = sword_path()
    confs = {conf.name.lower() for conf in (root / "mods.d").glob("*.conf")}
    missing = [m for m in (ENGLISH, SPANISH) if f"{m.lower()}.conf" not in confs]
    if missing:
        return f"SWORD module(s) {', '.join(missing)} not found in {root}/mods.d: {INSTALL} (or set $SWORD_PATH)"
    return None

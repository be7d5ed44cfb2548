"""Is the Hugging Face hub reachable? Asked before any hub download, so that an offline machine gets one
clear line at once instead of half a minute of library retries."""

from __future__ import annotations

import os
import socket


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when offline mode is set or the hub's host cannot be connected to within `timeout_s`.
    Behind a proxy a direct connection proves nothing, so then the libraries are left to try."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False

"""benchmarks/serve.py at a tiny size: it builds its store, starts a real `n2g serve` and times every page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_serve_benchmark_times_every_page_of_a_real_server() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serve.py"), "--neurons", "300",
                             "--repeats", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found["fitted_neurons"] > 0 and found["repeats"] == 2
    assert found["pages"] and all(page["requests"] == 2 and page["server_ms"] > 0
                                  for page in found["pages"].values())

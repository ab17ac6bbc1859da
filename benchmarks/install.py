"""Installed size: flowtide's core and `[all]` beside `dvc` and `mlflow`, each alone in a fresh virtualenv.

Sizes, not times, so nothing alternates: each tool is installed with uv into its own venv
(flowtide from a wheel built from this checkout, the peers from the package index) and the
site-packages directory is measured (`du`-style, apparent bytes of every file) with the number
of distributions. Run: `python -m benchmarks.install` (or `make bench BENCH_ARGS=install`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"


def _size(venv: Path) -> tuple[int, int]:
    code = (
        "import importlib.metadata as m, json, sysconfig, os;"
        "root = sysconfig.get_paths()['purelib'];"
        "total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs "
        "if not os.path.islink(os.path.join(d, f)));"
        "print(json.dumps([total, len(list(m.distributions()))]))"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    total, count = json.loads(out.stdout)
    return total, count


def measure(tmp: Path, name: str, requirement: str) -> tuple[int, int]:
    venv = tmp / name.replace(" ", "_").replace("[", "_").replace("]", "")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), requirement],
        check=True,
        timeout=1800,
    )
    return _size(venv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.install", description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="rows to skip, e.g. 'flowtide[all]' mlflow")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flowtide-bench-install-") as tmp:
        tmp = Path(tmp)
        dist = tmp / "dist"
        subprocess.run([str(UV), "build", "--quiet", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True)
        (wheel,) = dist.glob("flowtide-*.whl")
        rows = [
            ("flowtide (core)", str(wheel)),
            ("flowtide[all]", f"{wheel}[all]"),
            ("dvc", "dvc"),
            ("mlflow", "mlflow"),
        ]
        print("installed size in a fresh virtualenv (site-packages, apparent bytes), Python " + sys.version.split()[0])
        print(f"  {'install':<18} {'size':>10} {'distributions':>14}")
        core = None
        for name, requirement in rows:
            if name in args.skip:
                continue
            size, count = measure(tmp, name, requirement)
            core = core or size
            print(f"  {name:<18} {size / 2**20:>8.0f} MiB {count:>14}   {size / core:.2f}x the core", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

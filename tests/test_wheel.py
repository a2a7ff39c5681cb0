"""The wheel works outside the checkout, on the base install: built offline, installed into a fresh venv, it runs
`enrolsync demo` from another folder; and `enrolsync[testing]` brings what the shipped test kit imports.

CI has no network beyond loopback, so the fresh venv borrows this venv's installed dependencies through a `.pth`
line, minus every distribution only the extras bring (refused at import, as if absent): the demo, its fakes and
the fake kit they are built on must need nothing but the base install.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEMO_PEOPLE = 20  # enough for the demo's HR changes (an engineer to move, someone to terminate)
DEMO_TIMEOUT_SECONDS = 300


def _requirements(names: Iterable[str]) -> list[Requirement]:
    return [Requirement(name) for name in names]


def _closure(requirements: Iterable[Requirement]) -> set[NormalizedName]:
    """The installed distributions these requirements pull in, following each one's own requirements."""
    found: set[NormalizedName] = set()
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    pending = [(req, frozenset({""})) for req in requirements]
    while pending:
        req, extras = pending.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name, wanted_extras = canonicalize_name(req.name), frozenset(req.extras)
        if (name, wanted_extras) in seen:
            continue
        seen.add((name, wanted_extras))
        if name == "enrolsync":  # `enrolsync[testing]` inside `dev`
            extra_names = PROJECT["optional-dependencies"]
            pending += [(r, frozenset({""})) for e in req.extras for r in _requirements(extra_names[e])]
            continue
        found.add(name)
        try:
            needs = distribution(req.name).requires or []
        except PackageNotFoundError:
            continue  # a requirement for another platform or Python
        pending += [(r, frozenset({"", *req.extras})) for r in _requirements(needs)]
    return found


def _import_roots(paths: Iterable[Path]) -> set[str]:
    roots: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots - set(sys.stdlib_module_names) - {"__future__", "enrolsync"}


def _providers(root: str) -> set[NormalizedName]:
    return {canonicalize_name(d) for d in packages_distributions().get(root, [])}


BASE = _closure(_requirements(PROJECT["dependencies"]))


def test_the_testing_extra_brings_what_the_test_kit_imports_and_the_fakes_need_only_the_base() -> None:
    testing = BASE | _closure(_requirements(PROJECT["optional-dependencies"]["testing"]))
    for root in sorted(_import_roots((SRC / "connectors" / "testing").glob("*.py"))):
        assert _providers(root) & testing, f"connectors/testing imports {root}: add it to the `testing` extra"
    fakes = [SRC / "connectors" / "testing" / "fakes.py", *(SRC / "connectors").glob("*/fake.py")]
    fakes += (SRC / "connectors").glob("*/fake/*.py")
    for root in sorted(_import_roots(fakes)):
        assert _providers(root) & BASE, f"a shipped fake imports {root}, which the base install lacks"


def _run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, f"{command[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    # From a copy, so the build leaves the checkout's build/ (the editable install's link tree) alone.
    source = tmp_path / "source"
    shutil.copytree(SRC, source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path / "dist")])
    [wheel] = (tmp_path / "dist").glob("enrolsync-*.whl")
    return wheel


def _guard(blocked: set[str]) -> str:
    return f"""import sys
from importlib.abc import MetaPathFinder

BLOCKED = {sorted(blocked)!r}


class RefuseExtras(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (only enrolsync's extras bring it)", name=name)
        return None


sys.meta_path.insert(0, RefuseExtras())
"""


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--python", str(python)]
    _run([*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Our dependencies, appended after the venv's own site-packages, so its enrolsync (the wheel's) comes first;
    # .pth files in an appended folder are not run, so the editable install's finder stays out.
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "zz_borrowed_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    extras_only = {root for root in packages_distributions() if not _providers(root) & BASE} - {"enrolsync"}
    (site / "refuse_extras.py").write_text(_guard(extras_only))
    (site / "aa_refuse_extras.pth").write_text("import refuse_extras\n")
    return venv


def test_the_wheel_runs_the_demo_outside_the_checkout_on_the_base_install(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    files = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files = {f"enrolsync/{name}" for name in files}
    assert files <= shipped, f"missing from the wheel: {sorted(files - shipped)}"

    venv = _fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(elsewhere),
        "ENROLSYNC_DATA_DIR": str(tmp_path / "data"),
        "ENROLSYNC_DEMO_PORT": "0",  # any free port: the default 8000 may be taken
    }
    python = str(venv / "bin" / "python")
    imported = _run([python, "-c", "import enrolsync; print(enrolsync.__file__)"], cwd=elsewhere, env=env)
    assert Path(imported.stdout.strip()).is_relative_to(venv), "the wheel's enrolsync, not the checkout's"
    with pytest.raises(AssertionError, match="No module named 'pytest'"):
        _run([python, "-c", "import pytest"], cwd=elsewhere, env=env)  # out of reach, as on a base install

    demo = _run(
        [str(venv / "bin" / "enrolsync"), "demo", "--people", str(DEMO_PEOPLE)],
        cwd=elsewhere,
        env=env,
        timeout=DEMO_TIMEOUT_SECONDS,
    )

    for title in ("dry run", "first sync", "same sync again", "incremental sync"):
        assert re.search(rf"^== {title}: succeeded", demo.stdout, re.MULTILINE), demo.stdout
    assert "the second applied sync made 0 writes" in demo.stdout

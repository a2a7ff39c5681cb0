"""The layout promises: one import root, layers that only point down, a wheel that holds every folder."""

from __future__ import annotations

import ast
import importlib
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Lower layers may not import higher ones: cli/demo -> api -> sync -> connectors; settings imports nothing internal.
RANK = {"connectors": 0, "sync": 1, "api": 2}
TOP_LEVEL_RANK = {
    "settings": 0, "logs": 0, "cli": 3, "cli_runs": 3, "cli_uploads": 3, "demo": 3, "demo_systems": 3, "__main__": 3,
    "__init__": 0,
}  # fmt: skip
BUILT_INS = {
    "bamboohr", "moodle", "memory-source", "memory-target", "personio", "hibob", "canvas", "scim", "talentlms",
    "learnupon", "successfactors", "csv", "workday", "docebo", "scim-inbound",
}  # fmt: skip


def _module_rank(path: Path) -> tuple[str, int]:
    parts = path.relative_to(SRC).with_suffix("").parts
    if len(parts) == 1:
        return parts[0], TOP_LEVEL_RANK[parts[0]]
    return parts[0], RANK[parts[0]]


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _target_rank(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "enrolsync" or len(parts) < 2:
        return None
    if parts[1] in RANK:
        return RANK[parts[1]]
    return TOP_LEVEL_RANK.get(parts[1])


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down_and_never_at_src(path: Path) -> None:
    room, rank = _module_rank(path)
    for module in _imports(path):
        assert not module.startswith("src."), f"{path.name} imports {module}: use enrolsync.*"
        assert module.split(".")[0] != "tests", f"{path.relative_to(SRC)} imports {module}: src/ never imports tests"
        target = _target_rank(module)
        if target is None:
            continue
        if room == "settings":
            pytest.fail(f"settings imports {module}: it must import nothing internal")
        assert target <= rank, f"{path.relative_to(SRC)} ({room}) imports {module}, a higher layer"
        if room == "connectors":
            assert not module.startswith("enrolsync.settings"), "connectors never read settings"


def test_vendor_folders_use_only_the_contract_and_the_kit() -> None:
    allowed = ("enrolsync.connectors.model", "enrolsync.connectors.ops", "enrolsync.connectors.errors",
               "enrolsync.connectors.base", "enrolsync.connectors.kit")  # fmt: skip
    for folder in (SRC / "connectors").iterdir():
        if not folder.is_dir() or folder.name in ("kit", "testing", "__pycache__"):
            continue
        for path in folder.rglob("*.py"):
            # A fake is built on the shipped fake kit; the memory systems are the contract suite's own test double.
            is_fake = "fake" in path.relative_to(folder).parts or path.stem == "fake" or folder.name == "memory"
            extra = ("enrolsync.connectors.testing",) if is_fake else ()
            for module in _imports(path):
                if module.startswith("enrolsync.") and not module.startswith(f"enrolsync.connectors.{folder.name}"):
                    assert module.startswith(allowed + extra), f"{path.relative_to(SRC)} imports {module}"


def test_the_wheel_lists_every_package_folder() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    # Data folders too (a fake's payloads): setuptools ignores files in an importable folder it was not given.
    folders = {
        ".".join(("enrolsync", *p.parent.relative_to(SRC).parts))
        for p in SRC.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert listed == folders


def test_built_in_connectors_are_discoverable() -> None:
    found = {ep.name: ep.load() for ep in entry_points(group="enrolsync.connectors")}
    assert set(found) >= BUILT_INS
    for name, cls in found.items():
        assert cls.info.key == name


# Inside sync/: jobs -> run -> plan, rules -> store. The pure wings (rules, plan) never touch storage or runs.
WING_RANK = {"store": 0, "rules": 1, "plan": 2, "run": 3, "jobs": 4}
PURE_WINGS = {"rules", "plan"}


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["enrolsync", "sync"] and len(parts) > 2 else None


@pytest.mark.parametrize("path", sorted((SRC / "sync").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC / "sync")))
def test_sync_wings_point_down_and_pure_wings_never_touch_storage(path: Path) -> None:
    parts = path.relative_to(SRC / "sync").parts
    if parts == ("__init__.py",):
        return
    if len(parts) == 1:
        pytest.fail(f"sync/{parts[0]} sits outside the wings: put it in one of {sorted(WING_RANK)}")
    wing = parts[0]
    for module in _imports(path):
        target = _wing(module)
        if target is None:
            continue
        assert WING_RANK[target] <= WING_RANK[wing], f"sync/{'/'.join(parts)} ({wing}) imports {module}"
        if wing in PURE_WINGS:
            assert target in PURE_WINGS, f"sync/{'/'.join(parts)} is pure but imports {module}"
            assert not module.startswith(("sqlalchemy", "sqlmodel", "httpx")), module
    if wing in PURE_WINGS:
        banned = {"sqlalchemy", "sqlmodel", "httpx", "dbos"}
        roots = {m.split(".")[0] for m in _imports(path)}
        assert not roots & banned, f"sync/{'/'.join(parts)} is pure but imports {sorted(roots & banned)}"


CONTRACT = ("base", "model", "ops", "errors")


@pytest.mark.parametrize("name", CONTRACT)
def test_the_contract_depends_on_no_mechanics(name: str) -> None:
    # The kit, the testing kit and every connector build on the contract; the contract itself names only its nouns,
    # so it reads alone and nothing it imports can import it back.
    for module in _imports(SRC / "connectors" / f"{name}.py"):
        if module.startswith("enrolsync."):
            assert module in {f"enrolsync.connectors.{other}" for other in CONTRACT}, f"{name}.py imports {module}"


def _connector_folders() -> list[Path]:
    return sorted(
        folder
        for folder in (SRC / "connectors").iterdir()
        if folder.is_dir() and (folder / "__init__.py").exists() and folder.name not in ("kit", "testing")
    )


@pytest.mark.parametrize("folder", _connector_folders(), ids=lambda folder: folder.name)
def test_each_connector_class_is_checked_against_the_contract_by_mypy(folder: Path) -> None:
    # `_contract: SourceClass = <Class>` is where mypy --strict compares a connector with the contract; a class
    # without that line could drift unseen, so every class a folder exports must have one of the right kind.
    package = importlib.import_module(f"enrolsync.connectors.{folder.name}")
    kinds = {"hris": "SourceClass", "lms": "TargetClass"}
    wanted = {name: kinds[getattr(package, name).info.kind] for name in package.__all__}
    declared: dict[str, str] = {}
    for path in folder.glob("*.py"):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            match node:
                case ast.AnnAssign(annotation=ast.Name(id=kind), value=ast.Name(id=cls)) if kind in kinds.values():
                    declared[cls] = kind
    assert declared == wanted


# Tests share code through tests/support/ only: a conftest imported as a library registers its fixtures twice and
# hides where a helper lives, and importing a test module collects its tests into the importer's namespace.
TESTS = ROOT / "tests"


def _test_imports(path: Path) -> list[str]:
    """Every module `path` imports, relative imports resolved against its package (`from . import x` -> pkg.x)."""
    package = ".".join(("tests", *path.parent.relative_to(TESTS).parts))
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # `from pkg import conftest` names the module in the alias, not in `module`.
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_no_module_imports_a_conftest_or_a_test_module(path: Path) -> None:
    for module in _test_imports(path):
        parts = module.split(".")
        if parts[0] != "tests":
            continue
        assert "conftest" not in parts, f"{path.relative_to(ROOT)} imports {module}: move it to tests/support/"
        assert not any(p.startswith("test_") for p in parts), (
            f"{path.relative_to(ROOT)} imports {module}, a test module: move what it shares to tests/support/"
        )

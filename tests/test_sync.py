"""The package is generated from the notebooks: `nbdev-export` must not change `redunet_book/`, and
`nbdev-clean` must not change any notebook. Both run on a copy of the tree, never in place."""
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def nbdev_command(name: str) -> str:
    "Path of an nbdev console script next to this interpreter (or on PATH)."
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the test extra (nbdev)")
    return found


@pytest.fixture
def tree_copy(tmp_path):
    "A copy of what nbdev reads and writes: pyproject.toml, nbs/ and redunet_book/."
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "_build")
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs", ignore=ignore)
    shutil.copytree(ROOT / "redunet_book", tmp_path / "redunet_book", ignore=ignore)
    return tmp_path


def changed_files(a: Path, b: Path, pattern: str) -> list[str]:
    "Files matching `pattern` that differ between folders a and b, or exist in only one."
    names = {p.relative_to(a) for p in a.rglob(pattern)} | {p.relative_to(b) for p in b.rglob(pattern)}
    return sorted(str(n) for n in names
                  if not ((a / n).exists() and (b / n).exists() and filecmp.cmp(a / n, b / n, shallow=False)))


def test_nbdev_export_leaves_package_unchanged(tree_copy):
    subprocess.run([nbdev_command("nbdev-export")], cwd=tree_copy, check=True, capture_output=True)
    diff = changed_files(ROOT / "redunet_book", tree_copy / "redunet_book", "*.py")
    assert not diff, f"redunet_book/ is out of sync with nbs/ (run nbdev-export and commit): {diff}"


def test_nbdev_clean_leaves_notebooks_unchanged(tree_copy):
    subprocess.run([nbdev_command("nbdev-clean")], cwd=tree_copy, check=True, capture_output=True)
    diff = changed_files(ROOT / "nbs", tree_copy / "nbs", "*.ipynb")
    assert not diff, f"notebooks are not clean (run nbdev-clean and commit): {diff}"

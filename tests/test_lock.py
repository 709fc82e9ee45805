"""The dependency locks in requirements/ agree with pyproject.toml (refresh with scripts/lock)."""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"runtime.lock": ["local"], "test.lock": ["local", "test"]}
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def locked(path: Path) -> dict[str, list[Version]]:
    """name -> every version pinned for it (a universal lock may pin one per Python or platform)."""
    out: dict[str, list[Version]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ENTRY.match(line)
        if m:
            out.setdefault(canonicalize_name(m.group(1)), []).append(Version(m.group(2)))
    return out


def wanted(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def disagreements(lock: Path, reqs: list[Requirement]) -> list[str]:
    pins = locked(lock)
    problems = []
    for req in reqs:
        versions = pins.get(canonicalize_name(req.name))
        if not versions:
            problems.append(f"{req} is not in {lock.name}")
        elif bad := [str(v) for v in versions if not req.specifier.contains(v, prereleases=True)]:
            problems.append(f"{req}: locked at {', '.join(bad)}")
    return problems


@pytest.mark.parametrize("lock,extras", sorted(LOCKS.items()))
def test_every_dependency_is_locked_at_a_version_pyproject_allows(lock, extras):
    problems = disagreements(ROOT / "requirements" / lock, wanted(extras))
    assert not problems, "run scripts/lock:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_has_hashes_and_no_torch(lock):
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    entries = [line for line in text.splitlines() if _ENTRY.match(line)]
    assert entries and all(line.rstrip().endswith("\\") for line in entries), "every pin is followed by its hashes"
    names = {canonicalize_name(_ENTRY.match(line).group(1)) for line in entries}
    # torch comes from the CPU-only install step; a CUDA wheel in the lock would pull gigabytes
    assert not {n for n in names if n == "torch" or n.startswith("nvidia-") or n == "triton"}


def test_check_catches_a_disagreement(tmp_path):
    """The agreement test above can fail: a requirement the lock does not satisfy is reported."""
    lock = tmp_path / "x.lock"
    lock.write_text("fastapi==0.100.0 \\\n    --hash=sha256:00\n", encoding="utf-8")
    found = disagreements(lock, [Requirement("fastapi>=0.110"), Requirement("newdep>=1")])
    assert found == ["fastapi>=0.110: locked at 0.100.0", "newdep>=1 is not in x.lock"]

"""Upload the app to a Hugging Face Space: a snapshot of what the Space runs, never the repository's history.

    python scripts/deploy_space.py --repo USER/SPACE --dry-run      # list files, sizes, and how each is stored
    python scripts/deploy_space.py --repo USER/SPACE [--private]    # create the Space if needed and upload

The Hub refuses plain-git binary files over 1 MB and any file over 10 MB (history included), and this
repository's history holds hundreds of MB of training states: so the Space gets a fresh commit of the runtime
only (`app.py`, `sam3/`, `agent/`, `demo/`, `assets/`, the README and the docs it links to, requirements,
licence, `.gitattributes`), uploaded with `huggingface_hub`, which stores what `.gitattributes` marks through Xet/LFS.
Nothing from the research (`shapesworld/`, `training/`, `benchmarks/`, `tests/`, `scripts/`) goes. The token is
`$HF_TOKEN` (write access to the Space); set the Space's own secrets (`HF_TOKEN` with access to facebook/sam3,
optionally `OPENAI_API_KEY` and the `SAM3_AGENT_*` variables) in its settings, see docs/hosting.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = [
    "app.py", "README.md", "LICENSE", "requirements.txt", ".gitattributes",
    "sam3/**", "agent/**", "demo/**", "assets/**", "docs/**",
]
EXCLUDE = ["**/__pycache__/**", "**/*.pyc", "**/.DS_Store"]
PLAIN_GIT_LIMIT = 1 << 20  # the Hub refuses larger binaries in plain git
ANY_FILE_LIMIT = 10 << 20  # and any larger file


@dataclass(frozen=True)
class SpaceFile:
    path: str  # relative to the repository root, '/'-separated
    size: int
    binary: bool
    lfs: bool  # stored through Xet/LFS (by .gitattributes)

    @property
    def problem(self) -> str | None:
        """Why the Hub would refuse this file as it would be stored, or None."""
        if not self.lfs and self.size > ANY_FILE_LIMIT:
            return f"over {ANY_FILE_LIMIT >> 20} MB in plain git"
        if not self.lfs and self.binary and self.size > PLAIN_GIT_LIMIT:
            return f"a binary over {PLAIN_GIT_LIMIT >> 20} MB in plain git"
        return None


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or (p.endswith("/**") and path.startswith(p[:-2])) for p in patterns)


def lfs_patterns(root: Path = ROOT) -> list[str]:
    """The patterns `.gitattributes` stores through LFS."""
    attributes = root / ".gitattributes"
    if not attributes.is_file():
        return []
    out = []
    for line in attributes.read_text().splitlines():
        fields = line.split()
        if fields and not line.lstrip().startswith("#") and "filter=lfs" in fields[1:]:
            out.append(fields[0])
    return out


def _binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(8192)


def _candidates(root: Path) -> list[str]:
    """The repository's tracked files (what a clean clone has), or every file where there is no git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        return sorted(p for p in listed.decode().split("\0") if p and (root / p).is_file())
    except (OSError, subprocess.CalledProcessError):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def space_files(root: Path = ROOT) -> list[SpaceFile]:
    """Every file the Space gets, with how the Hub will store it."""
    lfs = lfs_patterns(root)
    out = []
    for rel in _candidates(root):
        path = root / rel
        if not _matches(rel, INCLUDE) or _matches(rel, EXCLUDE):
            continue
        stored_in_lfs = any(fnmatch.fnmatch(Path(rel).name, p) or fnmatch.fnmatch(rel, p) for p in lfs)
        out.append(SpaceFile(rel, path.stat().st_size, _binary(path), stored_in_lfs))
    return out


def report(files: list[SpaceFile]) -> str:
    lines = [f"{'file':<60} {'size':>10}  stored"]
    for f in files:
        how = "xet/lfs" if f.lfs else "git"
        lines.append(f"{f.path:<60} {f.size:>10,}  {how}" + (f"  <- refused: {f.problem}" if f.problem else ""))
    total = sum(f.size for f in files)
    lfs_total = sum(f.size for f in files if f.lfs)
    lines.append(f"{len(files)} files, {total / 2**20:.1f} MB ({lfs_total / 2**20:.1f} MB through xet/lfs)")
    return "\n".join(lines)


def upload(repo: str, private: bool, files: list[SpaceFile]) -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo,
        repo_type="space",
        folder_path=ROOT,
        allow_patterns=[f.path for f in files],
        delete_patterns=["*"],  # a snapshot: files the app no longer has leave the Space too
        commit_message="Deploy the SAM 3 Agent app",
    )
    return str(info.commit_url)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="the Space, as USER/NAME")
    ap.add_argument("--dry-run", action="store_true", help="list what would be uploaded, upload nothing")
    ap.add_argument("--private", action="store_true", help="create the Space private")
    args = ap.parse_args(argv)
    files = space_files()
    print(report(files))
    refused = [f for f in files if f.problem]
    if refused:
        print(f"{len(refused)} file(s) the Hub would refuse: mark their type in .gitattributes", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    print(upload(args.repo, args.private, files))
    return 0


if __name__ == "__main__":
    sys.exit(main())

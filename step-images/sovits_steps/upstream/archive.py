"""Upstream's release archive, checked by what it holds rather than by its compressed bytes.

The step image takes upstream GPT-SoVITS from a tag archive. A sha256 of the ``.tar.gz`` pins
one file's bytes: the project's pinned copy (``../shared/upstream``, a ``git archive`` of the
tag) and GitHub's tarball of the same tag are different files (the copy lacks two blobs GitHub's
has), so a build from GitHub would fail a byte checksum of the copy. GitHub is out of reach from
the project's build machines: no build from it has been run; the tests stand in for its tarball
with the copy recompressed and the two blobs added. What must not change is the content, so
this module checks that:

- the commit ``git archive`` records in the tar's pax header is the pinned commit;
- the tree digest, a sha256 over every regular file's path, executable bit and sha256 and every
  symlink's path and target (directories carry no content), equals the pinned one;
- every member lies under one top folder, and is a file, folder or symlink (no hard links,
  devices, paths or links that climb out, setuid bits), on any Python (tarfile's ``data``
  filter, which refuses the same, is missing from Debian bookworm's 3.11.2).

``OPTIONAL`` are the two blobs the pinned copy lacks. They are left out of the digest and, when
an archive has them, out of the extracted tree too, so every build runs on the verified tree:
``engdict_cache.pickle`` (a pickle: never load unverified bytes) is rebuilt from the verified
``cmudict.rep`` by the image build, and ``userdict.csv`` is the Japanese front end's optional
user dictionary (upstream runs without it, as the tested copy always has).

Standard library only (hence its own exception, not one of ``sovits_core.errors``): the image
build runs it as a plain script before our package is installed
(``python archive.py ARCHIVE --commit C --tree-sha256 D --extract DEST``).
"""

from __future__ import annotations

import argparse
import hashlib
import posixpath
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

OPTIONAL = frozenset({"GPT_SoVITS/text/engdict_cache.pickle", "GPT_SoVITS/text/ja_userdic/userdict.csv"})


class ArchiveRejected(Exception):
    """The archive is not the pinned release (or is not safe to unpack)."""


def _members(archive: tarfile.TarFile) -> tuple[str, list[tuple[str, tarfile.TarInfo]]]:
    """The top folder and every member below it as (path under the top folder, member)."""
    top: str | None = None
    found: list[tuple[str, tarfile.TarInfo]] = []
    for member in archive.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ArchiveRejected(f"member {member.name!r} lies outside the archive's folder")
        if top is None:
            top = path.parts[0]
        if path.parts[0] != top:
            raise ArchiveRejected(f"member {member.name!r} is not under {top}/, as every earlier one is")
        if not (member.isfile() or member.isdir() or member.issym()):
            raise ArchiveRejected(f"member {member.name!r} is neither a file, a folder nor a symlink")
        if member.issym():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname))
            if posixpath.isabs(member.linkname) or target.split("/")[0] != top:
                raise ArchiveRejected(f"symlink {member.name!r} points outside the archive's folder")
        if member.mode & 0o7000:
            raise ArchiveRejected(f"member {member.name!r} has a setuid, setgid or sticky bit")
        if len(path.parts) > 1:
            found.append(("/".join(path.parts[1:]), member))
    if top is None:
        raise ArchiveRejected("the archive is empty")
    return top, found


def tree_digest(path: Path) -> tuple[str, str | None]:
    """The archive's tree digest (OPTIONAL left out) and the commit its pax header records."""
    with tarfile.open(path, "r:*") as archive:
        _, members = _members(archive)
        digest = hashlib.sha256()
        for name, member in sorted(members, key=lambda item: item[0]):
            if name in OPTIONAL or member.isdir():
                continue
            if member.issym():
                digest.update(f"{name}\0link\0{member.linkname}\n".encode())
                continue
            data = archive.extractfile(member)
            assert data is not None
            content = hashlib.sha256(data.read()).hexdigest()  # upstream's largest file is a few MB
            mode = "x" if member.mode & 0o111 else "-"
            digest.update(f"{name}\0file\0{mode}\0{content}\n".encode())
        return digest.hexdigest(), archive.pax_headers.get("comment")


def verify(path: Path, commit: str, tree_sha256: str) -> None:
    """Raise ArchiveRejected unless ``path`` holds the pinned commit's tree."""
    try:
        digest, recorded = tree_digest(path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRejected(f"{path}: not a readable tar archive: {exc}") from exc
    if recorded != commit:
        raise ArchiveRejected(f"{path}: records commit {recorded or 'none'}, the pinned release is {commit}")
    if digest != tree_sha256:
        raise ArchiveRejected(f"{path}: its files have tree digest {digest}, the pinned release's is {tree_sha256}")


def extract(path: Path, dest: Path) -> None:
    """Unpack the verified archive's top folder as ``dest``, without the OPTIONAL blobs."""
    staging = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(path, "r:*") as archive:
        top, _ = _members(archive)
        if hasattr(tarfile, "data_filter"):
            archive.extractall(staging, filter="data")
        else:  # Python before 3.11.4 (Debian bookworm's 3.11.2): _members refused what the filter would
            archive.extractall(staging)
    for name in OPTIONAL:
        (staging / top / name).unlink(missing_ok=True)
    (staging / top).rename(dest)
    staging.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check (and unpack) upstream GPT-SoVITS's release archive.")
    parser.add_argument("archive", type=Path)
    parser.add_argument("--commit", help="the commit the archive must record")
    parser.add_argument("--tree-sha256", help="the tree digest the archive's files must have")
    parser.add_argument("--extract", type=Path, metavar="DEST", help="unpack the checked archive as DEST")
    parser.add_argument("--print", action="store_true", help="print the archive's commit and tree digest")
    args = parser.parse_args(argv)
    if args.print:
        digest, recorded = tree_digest(args.archive)
        print(f"commit {recorded}\ntree-sha256 {digest}")
        return 0
    if not (args.commit and args.tree_sha256):
        parser.error("--commit and --tree-sha256 are required to check an archive")
    try:
        verify(args.archive, args.commit, args.tree_sha256)
    except ArchiveRejected as exc:
        print(f"upstream archive rejected: {exc}", file=sys.stderr)
        return 1
    if args.extract:
        extract(args.archive, args.extract)
    print(f"upstream archive {args.archive}: commit {args.commit}, tree digest checked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

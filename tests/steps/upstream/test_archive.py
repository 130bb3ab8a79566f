"""Upstream's release archive is checked by content: the pinned copy and another tarball of the
same tag pass, anything else is refused before a file is unpacked.

"Another tarball of the same tag" is made here from the pinned copy, as GitHub's differs from
it: recompressed (other bytes) and holding the two blobs the copy lacks. GitHub itself is out of
reach from these machines.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from sovits_steps.upstream import archive

REPO = Path(__file__).resolve().parents[3]
PINNED = REPO.parent / "shared" / "upstream" / "GPT-SoVITS-20250606v2pro.tar.gz"
TOP = "GPT-SoVITS-20250606v2pro"


def dockerfile_arg(name: str) -> str:
    (value,) = re.findall(rf"^ARG {name}=(\S+)$", (REPO / "step-images" / "Dockerfile").read_text(), re.MULTILINE)
    return value


COMMIT = dockerfile_arg("GPT_SOVITS_COMMIT")
TREE = dockerfile_arg("GPT_SOVITS_TREE_SHA256")


def remade(dest: Path, *, change: str | None = None, add: dict[str, bytes] | None = None,
           link: tuple[str, str] | None = None, commit: str = COMMIT) -> Path:  # fmt: skip
    """The pinned copy written again at another gzip level: ``change`` gets other content,
    ``add`` adds members (path under the top folder, or outside it with a leading ``../``),
    ``link`` a symlink (path under the top folder, target)."""
    with tarfile.open(PINNED) as source, tarfile.open(dest, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT,
                                                      pax_headers={"comment": commit}) as out:  # fmt: skip
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name == f"{TOP}/{change}":
                content = b"changed\n"
                member.size = len(content)
                data = io.BytesIO(content)
            out.addfile(member, data)
        for name, content in (add or {}).items():
            info = tarfile.TarInfo(f"{TOP}/{name}" if not name.startswith("../") else name)
            info.size = len(content)
            out.addfile(info, io.BytesIO(content))
        if link:
            info = tarfile.TarInfo(f"{TOP}/{link[0]}")
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            out.addfile(info)
    return dest


def test_the_pinned_copy_has_the_dockerfiles_commit_and_tree_digest() -> None:
    assert archive.tree_digest(PINNED) == (TREE, COMMIT)
    archive.verify(PINNED, COMMIT, TREE)


def test_another_tarball_of_the_tag_with_the_optional_blobs_passes_and_unpacks_without_them(tmp_path: Path) -> None:
    other = remade(tmp_path / "github.tar.gz", add={name: b"not verified\n" for name in archive.OPTIONAL})
    assert other.read_bytes() != PINNED.read_bytes()

    archive.verify(other, COMMIT, TREE)
    archive.extract(other, tmp_path / "GPT-SoVITS")

    tree = tmp_path / "GPT-SoVITS"
    assert (tree / "GPT_SoVITS" / "s2_train.py").is_file()
    assert not any((tree / name).exists() for name in archive.OPTIONAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GPT-SoVITS", "github.tar.gz"]  # no staging left


def test_a_changed_file_is_refused_with_both_digests(tmp_path: Path) -> None:
    changed = remade(tmp_path / "changed.tar.gz", change="GPT_SoVITS/s2_train.py")

    with pytest.raises(archive.ArchiveRejected, match=f"tree digest [0-9a-f]{{64}}, the pinned release's is {TREE}"):
        archive.verify(changed, COMMIT, TREE)


def test_an_added_file_is_refused(tmp_path: Path) -> None:
    added = remade(tmp_path / "added.tar.gz", add={"GPT_SoVITS/sitecustomize.py": b"import os\n"})

    with pytest.raises(archive.ArchiveRejected, match="tree digest"):
        archive.verify(added, COMMIT, TREE)


def test_an_archive_of_another_commit_is_refused_naming_both(tmp_path: Path) -> None:
    other = remade(tmp_path / "other.tar.gz", commit="0" * 40)

    with pytest.raises(archive.ArchiveRejected, match=f"records commit {'0' * 40}, the pinned release is {COMMIT}"):
        archive.verify(other, COMMIT, TREE)


def test_a_member_outside_the_archives_folder_is_refused(tmp_path: Path) -> None:
    climbing = remade(tmp_path / "climbing.tar.gz", add={"../escape.py": b"x\n"})

    with pytest.raises(archive.ArchiveRejected, match=re.escape("'../escape.py' lies outside")):
        archive.verify(climbing, COMMIT, TREE)


def test_a_symlink_out_of_the_archives_folder_is_refused(tmp_path: Path) -> None:
    linked = remade(tmp_path / "linked.tar.gz", link=("GPT_SoVITS/pretrained", "../../root"))

    with pytest.raises(archive.ArchiveRejected, match="points outside"):
        archive.verify(linked, COMMIT, TREE)


def test_python_without_tarfiles_data_filter_unpacks_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(tarfile, "data_filter")  # Debian bookworm's 3.11.2, the stand-in base's

    archive.extract(PINNED, tmp_path / "GPT-SoVITS")

    with tarfile.open(PINNED) as source:
        files = {m.name.split("/", 1)[1] for m in source.getmembers() if m.isfile()}
    assert {
        str(p.relative_to(tmp_path / "GPT-SoVITS")) for p in (tmp_path / "GPT-SoVITS").rglob("*") if p.is_file()
    } == files


def test_the_script_refuses_a_wrong_archive_with_its_reason_and_unpacks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = remade(tmp_path / "changed.tar.gz", change="webui.py")
    dest = tmp_path / "GPT-SoVITS"

    code = archive.main([str(changed), "--commit", COMMIT, "--tree-sha256", TREE, "--extract", str(dest)])

    assert code == 1
    assert "upstream archive rejected" in capsys.readouterr().err
    assert not dest.exists()

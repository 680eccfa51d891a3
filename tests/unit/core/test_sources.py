"""Installed Debian package files as a data source (``scisuite.core.sources``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scisuite.core.sources import (
    DebianSpec,
    SourceError,
    debian_license,
    open_debian_package,
    sha256_bytes,
)

# The head of Debian's theseus-examples copyright file (machine-readable format 1.0)
COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Theseus

Files: libdltmath/ncbi_math.*
License: GPL-2+

Files: *
Copyright: 2003-2015, Douglas L. Theobald
License: GPL-3+
"""


def test_debian_license_reads_the_all_files_stanza(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "copyright").write_text(COPYRIGHT)
    assert debian_license("pkg", tmp_path) == "GPL-3+"
    assert debian_license("missing", tmp_path) == "unknown"


def test_installed_files_read_with_provenance(tmp_path: Path) -> None:
    root = tmp_path / "theseus"
    (root / "examples" / "ldh").mkdir(parents=True)
    (root / "examples" / "ldh" / "1a5z_A.pdb.gz").write_bytes(b"abc")
    (root / "examples" / "README").write_text("x")
    with open_debian_package(DebianSpec("no-such-debian-package", str(root))) as files:
        assert files.version == "unknown"  # dpkg does not know it
        assert files.members("examples/*.gz") == ["examples/ldh/1a5z_A.pdb.gz"]
        assert files.members() == ["examples/README", "examples/ldh/1a5z_A.pdb.gz"]
        data, provenance = files.read("examples/ldh/1a5z_A.pdb.gz")
        assert data == b"abc"
        assert provenance.sha256 == sha256_bytes(b"abc")
        assert provenance.archive == "no-such-debian-package_unknown (installed)"
        assert provenance.archive_sha256 == files.sha256 and len(files.sha256) == 64
        with pytest.raises(SourceError, match="has no file"):
            files.read("examples/nope.pdb")
    (root / "examples" / "README").write_text("changed")
    changed = open_debian_package(DebianSpec("no-such-debian-package", str(root)))
    assert changed.sha256 != files.sha256  # the fingerprint covers every file's content


def test_a_missing_package_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="apt-get install theseus-examples"):
        open_debian_package(DebianSpec("theseus-examples", str(tmp_path / "absent")))

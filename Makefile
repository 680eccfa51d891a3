# The README's quick start is `make demo` and `make test`; both work offline from a clean clone
# (package registries only). torch is pinned first so that nothing pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCI := $(VENV)/bin/sci
STAMP := $(VENV)/.scisuite-installed

.PHONY: install demo test test-slow lint bench-attention bench-molecule weights-molecule \
	weights-protein clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,cfd]"
	touch $(STAMP)

demo: install
	$(SCI) info
	$(SCI) predict --domain molecule data/molecules_example.csv -o demo_predictions.csv
	$(PY) -c "import pandas as pd; print(pd.read_csv('demo_predictions.csv').to_string(max_colwidth=40))"

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check scisuite tests bench

bench-attention: install
	$(PY) bench/attention_sparse_vs_dense.py

# Reproduces the shipped molecule default (scisuite/weights/molecule); ~7 min on 2 CPU cores.
weights-molecule: install
	$(SCI) train --domain molecule --dataset freesolv+solubility --split auto --seed 0 \
		--epochs 60 --batch-size 32 -o scisuite/weights/molecule --quiet

# Reproduces the shipped protein default (scisuite/weights/protein): builds the offline data
# sets (8-state DSSP needs the Debian package `dssp`, UniProt the package `mmseqs2-examples`),
# trains (~30 min on 2 idle CPU cores) and evaluates on the held-out test chains.
PROTEIN_DATA ?= datasets/protein
weights-protein: install
	for name in structures peptides uniprot; do \
		$(SCI) data build protein $$name -o $(PROTEIN_DATA) || exit 1; done
	$(SCI) train --domain protein --dataset all --data-dir $(PROTEIN_DATA) --epochs 12 \
		--batch-size 1 --lr 2e-3 --seed 0 --set bucket_tokens=2048 \
		-o scisuite/weights/protein --quiet
	$(PY) -m scisuite.domains.protein.evaluation --checkpoint scisuite/weights/protein \
		--data-dir $(PROTEIN_DATA) --split test -o scisuite/weights/protein/evaluation.json

# Side by side with chemprop 2.3 (its own venv: bench/envs/setup_chemprop.sh); hours on CPU.
bench-molecule: install
	bash bench/envs/setup_chemprop.sh
	$(PY) bench/molecule_vs_chemprop.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo_predictions.csv

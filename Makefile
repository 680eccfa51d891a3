# The README's quick start is `make demo` and `make test`; both work offline from a clean clone
# (package registries only). torch is pinned first so that nothing pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCI := $(VENV)/bin/sci
STAMP := $(VENV)/.scisuite-installed

.PHONY: install demo test test-slow fuzz lint bench-attention bench-molecule bench-molecule-uncertainty weights-molecule \
	weights-molecule-pretrained weights-molecule-fast \
	weights-protein weights-mesh bench-protein-synergy bench-protein-gor bench-protein-designs bench-mesh clean

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
	$(SCI) predict --domain protein data/proteins_example.fasta -o demo_proteins.csv
	$(PY) -c "import pandas as pd; print(pd.read_csv('demo_proteins.csv').drop(columns=['sequence', 'dssp8']).to_string(max_colwidth=40))"
	$(SCI) predict --domain mesh data/mesh_example.vtu --steps 100 -o demo_flow.xdmf
	$(PY) -c "import pandas as pd; print(pd.read_csv('demo_flow.csv').T.to_string())"

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

# Every reader and featurizer under >= 10,000 generated inputs each (#16); a short,
# derandomised form of the same tests runs in `make test`.
fuzz: install
	SCISUITE_FUZZ=full $(PY) -m pytest -q tests/fuzz

lint: install
	$(VENV)/bin/ruff check scisuite tests bench

bench-attention: install
	$(PY) bench/attention_sparse_vs_dense.py

# Predicted std of ensemble / MVE models on FreeSolv and Huuskonen test sets (~30 min, 1 core).
bench-molecule-uncertainty: install
	$(PY) bench/molecule_uncertainty.py --datasets freesolv-random,huuskonen \
		--variants mve1,ensemble5 --seed 0 --epochs 50 --threads 1

# Reproduces the shipped molecule default (scisuite/weights/molecule) from the shipped
# pretrained backbone; ~4 min on one CPU thread.
weights-molecule: install
	$(SCI) train --domain molecule --dataset freesolv+solubility --split auto --seed 0 \
		--epochs 60 --batch-size 32 --init-from pretrained --lr 5e-4 --set pooling=mean \
		-o scisuite/weights/molecule --quiet

# Reproduces the pretrained molecule backbone (scisuite/weights/molecule-pretrained): RDKit 2D
# descriptors of 100k MOSES molecules (molsets 0.3.1; computed once, cached) as regression
# targets for the default architecture. Mean pooling: with plain sum pooling the 175-target
# regression collapses to the target means (pooling has no weights; fine-tuning may use any).
# Resumable: add --resume after an interruption.
weights-molecule-pretrained: install
	$(SCI) train --domain molecule --dataset moses-descriptors --split random --seed 0 \
		--epochs 10 --batch-size 64 --lr 1e-3 --set ensemble_size=1 --set fingerprint_use=off \
		--set pooling=mean \
		-o scisuite/weights/molecule-pretrained $(RESUME)

# Reproduces the fast molecule variant (scisuite/weights/molecule-fast, `--checkpoint fast`):
# a 2-layer, 64-wide student trained on the default's splits plus the shipped default's
# predictions on 100k unlabelled MOSES molecules (molsets 0.3.1, seeded sample; validation and
# test molecules left out); ~50 min on one CPU thread. Resumable: add --resume.
weights-molecule-fast: install
	$(SCI) train --domain molecule --dataset freesolv+solubility --split auto --seed 0 \
		--epochs 60 --batch-size 128 --set backbone.d_model=64 --set backbone.num_layers=2 \
		--set fingerprint_use=off --set pooling=mean --distill-from shipped \
		--distill-molecules 100000 -o scisuite/weights/molecule-fast $(RESUME)

# Trains the protein default (scisuite/weights/protein): builds the offline data sets
# (Debian packages: `dssp` for 8-state DSSP, `theseus-examples` for structures,
# `mmseqs2-examples` for UniProt), trains a two-stage curriculum (secondary structure alone,
# then every task starting from those weights; 82-residue windows; ~14 + ~28 min on one
# thread each) and evaluates on the held-out test chains. Whole-chain context (add
# `--set max_length=1544` to a stage) was measured and lost on validation after stage 2
# (docs/benchmarks.md). An interrupted stage continues with its own command plus --resume.
PROTEIN_DATA ?= datasets/protein
PROTEIN_STAGE1 ?= runs/protein-stage1

weights-protein: install
	for name in structures peptides uniprot; do \
		$(SCI) data build protein $$name -o $(PROTEIN_DATA) || exit 1; done
	$(SCI) train --domain protein --dataset structures --tasks ss3 ss8 \
		--data-dir $(PROTEIN_DATA) --epochs 10 --batch-size 1 --lr 2e-3 --seed 0 \
		--set bucket_tokens=2048 -o $(PROTEIN_STAGE1) --quiet
	$(SCI) train --domain protein --dataset all --data-dir $(PROTEIN_DATA) \
		--init-from $(PROTEIN_STAGE1) --epochs 8 --batch-size 1 --lr 1e-3 --seed 0 \
		--set bucket_tokens=2048 -o scisuite/weights/protein --quiet
	$(PY) bench/protein_evaluation.py --checkpoint scisuite/weights/protein \
		--data-dir $(PROTEIN_DATA) --split test -o scisuite/weights/protein/evaluation.json

# Secondary structure vs a GOR-style predictor trained on the same chains (~5 min on 2 CPU cores).
bench-protein-gor: install
	$(PY) bench/protein_ss_vs_gor.py --data-dir $(PROTEIN_DATA)

# Designs judged by the GOR peer, sequence sanity and modlamp descriptors (~1 min on CPU).
bench-protein-designs: install
	$(PY) bench/protein_design_checks.py --data-dir $(PROTEIN_DATA) -n 50 \
		-o bench/results/protein_design_checks.json

# Multi-task synergy (SS only vs all tasks, same token budget); ~15 min on 2 CPU cores.
bench-protein-synergy: install
	$(PY) bench/protein_synergy.py --data-dir $(PROTEIN_DATA) --epochs 2

# Reproduces the shipped mesh default (scisuite/weights/mesh): generates the obstacle-flow
# trajectories with the FEM solver (the `cfd` extra; 43 CPU-minutes, ~22 min with 2 workers),
# trains the graph transformer with pushforward, decaying noise and two stored frames per model
# step (3,120 steps, ~44 min on 1 CPU thread) and writes its rollout evaluation on the test
# trajectories (reports/mesh; `--split val` and `--split held-out` score the others).
MESH_DATA ?= datasets/mesh/obstacle-flow

$(MESH_DATA)/manifest.json: | install
	$(SCI) data generate mesh obstacle-flow -o $(MESH_DATA) --trajectories 36 --frames 400 \
		--seed 0 --workers 2

weights-mesh: install $(MESH_DATA)/manifest.json
	$(SCI) train --domain mesh --data $(MESH_DATA) --model transformer --seed 0 \
		--frames-per-trajectory 120 --epochs 2 --batch-size 2 --lr 1e-3 \
		--set unroll_steps=4 --set noise_std_end=0.0 --set frame_stride=2 \
		-o scisuite/weights/mesh --quiet
	$(SCI) evaluate --domain mesh --data $(MESH_DATA) --checkpoint scisuite/weights/mesh \
		-o reports/mesh --quiet
	cp reports/mesh/metrics.json scisuite/weights/mesh/evaluation.json

# Graph transformer vs the MeshGraphNets baseline, same data and wall-clock budget, and one
# inference step vs mesh size (1k-300k nodes); ~1.5 h on 2 CPU cores.
bench-mesh: install $(MESH_DATA)/manifest.json
	$(PY) bench/mesh_vs_mgn.py --data $(MESH_DATA) --steps 100000 --minutes 20 --threads 1
	$(PY) bench/mesh_scale.py
	$(PY) bench/mesh_vs_solver.py --checkpoint scisuite/weights/mesh --threads 1

# Side by side with chemprop 2.3 (its own venv: bench/envs/setup_chemprop.sh); hours on CPU.
bench-molecule: install
	bash bench/envs/setup_chemprop.sh
	$(PY) bench/molecule_vs_chemprop.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo_predictions.csv demo_proteins* demo_flow*

"""Small-molecule domain: readers, datasets and splits for SMILES / SDF inputs."""

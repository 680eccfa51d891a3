"""Protein domain: FASTA reading, structure-derived secondary-structure data, identity splits."""

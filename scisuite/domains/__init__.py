"""Domain plugins (protein, molecule, mesh); no domain imports another."""

"""Domain-agnostic core: configs, attention patterns and kernels, layers, encodings,
backbone, heads, checkpoints, plugin contract and registry, Lightning glue.

The core never imports a domain.
"""

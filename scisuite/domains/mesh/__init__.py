"""Mesh domain (learned CFD): meshing, a reference flow solver, data generation and mesh I/O.

* :mod:`~scisuite.domains.mesh.geometry`: gmsh meshes of a channel with a cylinder
  (P1 triangles, MeshGraphNets node types);
* :mod:`~scisuite.domains.mesh.solver`: incompressible Navier-Stokes with scikit-fem
  (P2/P1 Taylor-Hood, IMEX BDF2) that produces the training trajectories;
* :mod:`~scisuite.domains.mesh.generate`: ``sci data generate cylinder-flow`` (parallel,
  resumable, one H5 file per trajectory);
* :mod:`~scisuite.domains.mesh.io` (the in-memory forms, single meshes meshio reads, VTU),
  :mod:`~scisuite.domains.mesh.h5` (MeshGraphNets-style H5) and
  :mod:`~scisuite.domains.mesh.xdmf` (XDMF time series and the ``.xdmf`` prediction writer);
* :mod:`~scisuite.domains.mesh.graph`: mesh-to-graph helpers and the Strouhal number;
* the plugin (:mod:`~scisuite.domains.mesh.plugin`, a wiring table) and its stages:
  ``readers``, ``task`` (``features`` -> ``model`` -> ``rollout`` -> ``postprocess``),
  ``training_data``, ``report``, ``examples``, ``commands``.

gmsh and scikit-fem come with the optional extra ``scisuite[cfd]``; they are imported only
by the modules that need them, so reading and writing meshes works without the extra.
"""

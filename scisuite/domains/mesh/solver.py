"""Incompressible Navier-Stokes around a cylinder in a channel, with scikit-fem.

Equations (density 1, so ``p`` is kinematic pressure in m^2/s^2)::

    du/dt + (u . grad) u - nu laplace(u) + grad p = 0,    div u = 0

on a :class:`~scisuite.domains.mesh.geometry.ChannelMesh`, with

* inflow ``x = 0``: ``u = (4 Um y (H - y) / H^2 * ramp(t), 0)``, where
  ``ramp(t) = (1 - cos(pi t / ramp_time)) / 2`` for ``t < ramp_time`` and 1 after;
* no slip (``u = 0``) on the channel walls and the cylinder;
* outflow ``x = length``: "do nothing", ``nu du/dn - p n = 0``.

Discretisation: Taylor-Hood P2 velocity / P1 pressure on the P1 mesh (scikit-fem puts the
P2 mid-edge DOFs on the P1 triangles). Time stepping is IMEX BDF2 ("SBDF2"): the time
derivative is BDF2, viscosity and pressure are implicit, convection is explicit with the
second-order extrapolation ``u* = 2 u^n - u^{n-1}``::

    (3 u^{n+1} - 4 u^n + u^{n-1}) / (2 dt) + (u* . grad) u* - nu laplace(u^{n+1})
        + grad p^{n+1} = 0

so the saddle-point matrix never changes: it is LU-factorised once (SuperLU) and every step
costs one assembly of the convection vector (precomputed sparse interpolation operators, no
Python loop over elements) and one pair of triangular solves. The first step uses
``u^{-1} = u^0 = 0`` (flow starts from rest). Explicit convection limits the step by a
Courant condition; :func:`default_substeps` picks the number of solver steps per stored
frame from the smallest edge and the peak inflow speed.

Values at the mesh vertices are the P2 (velocity) and P1 (pressure) nodal values there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from scisuite.domains.mesh.geometry import ChannelMesh

#: Name and scheme recorded with generated data.
SOLVER_NAME = (
    "scikit-fem Taylor-Hood P2/P1, IMEX BDF2 (implicit viscosity/pressure, explicit convection)"
)
# Quadrature order: exact for the P2 mass matrix (degree 4); the degree-5 convection
# integrand is integrated approximately.
_INTORDER = 4
# Stop when the velocity exceeds this multiple of the peak inflow (the explicit scheme
# went unstable).
_BLOWUP_FACTOR = 50.0


def _skfem():
    try:
        import skfem
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the flow solver needs scikit-fem: pip install 'scisuite[cfd]' "
            "(or pip install scikit-fem)"
        ) from err
    return skfem


@dataclass(frozen=True)
class FlowConfig:
    """Physical and numerical parameters of one simulation.

    Attributes:
        peak_inflow: ``Um``, the centre-line inflow speed, m/s (mean inflow is ``2/3 Um``).
        nu: kinematic viscosity, m^2/s.
        frame_dt: time between stored frames, s.
        substeps: solver steps per frame (solver step ``frame_dt / substeps``); ``None``
            picks it with :func:`default_substeps`.
        courant: target Courant number for the automatic ``substeps``.
        ramp_time: duration of the smooth inflow ramp-up from rest, s.
    """

    peak_inflow: float
    nu: float = 1e-3
    frame_dt: float = 0.01
    substeps: int | None = None
    courant: float = 0.4
    ramp_time: float = 0.5

    def __post_init__(self) -> None:
        if not self.peak_inflow > 0:
            raise ValueError(f"peak_inflow must be positive, got {self.peak_inflow}")
        if not self.nu > 0:
            raise ValueError(f"nu must be positive, got {self.nu}")
        if not self.frame_dt > 0:
            raise ValueError(f"frame_dt must be positive, got {self.frame_dt}")
        if self.substeps is not None and self.substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {self.substeps}")
        if not 0 < self.courant <= 2:
            raise ValueError(f"courant must be in (0, 2], got {self.courant}")
        if self.ramp_time < 0:
            raise ValueError(f"ramp_time must be >= 0, got {self.ramp_time}")


def default_substeps(mesh: ChannelMesh, config: FlowConfig) -> int:
    """Solver steps per frame so that ``1.5 Um dt / (h_min / 2) <= courant``.

    ``h_min / 2`` is the P2 node spacing on the shortest edge and ``1.5 Um`` a bound on the
    speed near the cylinder. With explicit convection the scheme was seen to go unstable at
    about 0.45 in this measure (Um = 2, r = 0.07 next to the wall), hence the default 0.4.
    """
    speed = 1.5 * config.peak_inflow
    return max(1, math.ceil(config.frame_dt * speed / (config.courant * mesh.min_edge_length / 2)))


def reynolds_number(peak_inflow: float, radius: float, nu: float = 1e-3) -> float:
    """``Re = U_mean D / nu`` with ``U_mean = 2/3 Um`` and ``D = 2 r`` (DFG convention)."""
    return (2.0 / 3.0) * peak_inflow * 2.0 * radius / nu


@dataclass(frozen=True)
class FlowTrajectory:
    """Stored frames of one simulation.

    Attributes:
        times: ``[F]`` simulation time of each frame, s (from the start at rest).
        velocity: ``[F, N, 2]`` float64 velocity at the mesh vertices, m/s.
        pressure: ``[F, N]`` float64 kinematic pressure at the vertices, m^2/s^2.
        substeps: solver steps per frame.
        solver_dt: solver time step, s.
        ms_per_step: mean wall-clock time of one solver step, ms.
        setup_seconds: wall-clock time of assembly and factorisation, s.
    """

    times: np.ndarray
    velocity: np.ndarray
    pressure: np.ndarray
    substeps: int
    solver_dt: float
    ms_per_step: float
    setup_seconds: float


def _dense_stack(fields: list) -> np.ndarray:
    return np.stack([np.asarray(f) for f in fields])


class CylinderFlowSolver:
    """IMEX BDF2 Taylor-Hood solver on a channel mesh (see the module docstring).

    Args:
        mesh: the P1 mesh with its geometry.
        config: physical and numerical parameters.

    The state starts at rest at ``t = 0``; :meth:`advance_frame` moves it by one stored frame.
    """

    def __init__(self, mesh: ChannelMesh, config: FlowConfig) -> None:
        skfem = _skfem()
        from skfem.models.poisson import laplace, mass

        start = time.perf_counter()
        self.mesh = mesh
        self.config = config
        self.substeps = config.substeps or default_substeps(mesh, config)
        self.dt = config.frame_dt / self.substeps
        self.time = 0.0
        self.steps_taken = 0
        self._step_seconds = 0.0

        geometry = mesh.geometry
        eps = 1e-9 * max(geometry.length, geometry.height)
        fe_mesh = skfem.MeshTri(
            np.ascontiguousarray(mesh.points.T), np.ascontiguousarray(mesh.triangles.T)
        )
        boundary = fe_mesh.boundary_facets()
        mid = fe_mesh.p[:, fe_mesh.facets[:, boundary]].mean(axis=1)
        inlet = mid[0] < eps
        outlet = mid[0] > geometry.length - eps
        walls = ~inlet & ~outlet & ((mid[1] < eps) | (mid[1] > geometry.height - eps))
        cylinder = ~(inlet | outlet | walls)
        self._fe_mesh = fe_mesh.with_boundaries(
            {
                "inlet": boundary[inlet],
                "outlet": boundary[outlet],
                "walls": boundary[walls],
                "cylinder": boundary[cylinder],
            }
        )
        fe_mesh = self._fe_mesh
        self._velocity_basis = skfem.Basis(fe_mesh, skfem.ElementTriP2(), intorder=_INTORDER)
        self._pressure_basis = skfem.Basis(fe_mesh, skfem.ElementTriP1(), intorder=_INTORDER)
        vb, pb = self._velocity_basis, self._pressure_basis
        n_u, n_p = vb.N, pb.N
        self._n_u, self._n_p = n_u, n_p

        mass_matrix = skfem.asm(mass, vb)
        stiffness = skfem.asm(laplace, vb)

        @skfem.BilinearForm
        def ddx(u, q, w):
            return u.grad[0] * q

        @skfem.BilinearForm
        def ddy(u, q, w):
            return u.grad[1] * q

        bx = skfem.asm(ddx, vb, pb)  # [n_p, n_u]
        by = skfem.asm(ddy, vb, pb)
        block = 1.5 / self.dt * mass_matrix + config.nu * stiffness
        system = sp.bmat(
            [[block, None, -bx.T], [None, block, -by.T], [-bx, -by, None]], format="csc"
        )
        self._mass = mass_matrix.tocsr()

        # Dirichlet DOFs: both components on inlet, walls and cylinder.
        inflow_dofs = vb.get_dofs("inlet").all()
        noslip_dofs = np.unique(
            np.concatenate([vb.get_dofs(name).all() for name in ("walls", "cylinder")])
        )
        inflow_dofs = np.setdiff1d(inflow_dofs, noslip_dofs)  # corners are no-slip (zero)
        y = vb.doflocs[1, inflow_dofs]
        h = geometry.height
        self._inflow_dofs = inflow_dofs
        self._inflow_profile = 4.0 * config.peak_inflow * y * (h - y) / h**2
        dirichlet = np.unique(
            np.concatenate([inflow_dofs, noslip_dofs, noslip_dofs + n_u, inflow_dofs + n_u])
        )
        free = np.setdiff1d(np.arange(2 * n_u + n_p), dirichlet)
        self._dirichlet, self._free = dirichlet, free
        self._lu = splu(
            system[free][:, free].tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1
        )
        self._coupling = system[free][:, dirichlet].tocsr()

        # Convection operators: values and x/y derivatives of a P2 field at every
        # quadrature point, as sparse matrices [n_elements * n_qp, n_u].
        dofs = vb.element_dofs  # [6, n_el]
        n_el, n_qp = vb.dx.shape
        rows = np.broadcast_to(
            (np.arange(n_el)[:, None] * n_qp + np.arange(n_qp)[None, :])[None], (6, n_el, n_qp)
        ).ravel()
        cols = np.broadcast_to(dofs[:, :, None], (6, n_el, n_qp)).ravel()

        def operator(values: np.ndarray) -> sp.csr_matrix:
            return sp.csr_matrix((values.ravel(), (rows, cols)), shape=(n_el * n_qp, n_u))

        phi = _dense_stack([vb.basis[i][0] for i in range(6)])  # [6, n_el, n_qp]
        dphi = _dense_stack([vb.basis[i][0].grad for i in range(6)])  # [6, 2, n_el, n_qp]
        self._interp = operator(phi)
        self._ddx_op = operator(dphi[:, 0])
        self._ddy_op = operator(dphi[:, 1])
        self._test_weighted = (self._interp.multiply(vb.dx.ravel()[:, None])).T.tocsr()

        self._u = np.zeros((2, n_u))  # u^n (x, y components)
        self._u_prev = np.zeros((2, n_u))  # u^{n-1}
        self._p = np.zeros(n_p)
        self.setup_seconds = time.perf_counter() - start

    # -- time stepping ---------------------------------------------------------------------

    def ramp(self, t: float) -> float:
        """Inflow ramp factor in ``[0, 1]`` at time ``t``, s."""
        if self.config.ramp_time == 0 or t >= self.config.ramp_time:
            return 1.0
        return 0.5 * (1.0 - math.cos(math.pi * t / self.config.ramp_time))

    def _convection(self, u: np.ndarray) -> np.ndarray:
        """``∫ (u . grad) u . v`` for every P2 test function: ``[2, n_u]``."""
        values = self._interp @ u.T  # [n_q, 2]
        ddx = self._ddx_op @ u.T
        ddy = self._ddy_op @ u.T
        advect = values[:, :1] * ddx + values[:, 1:] * ddy  # [n_q, 2]
        return (self._test_weighted @ advect).T

    def step(self) -> None:
        """Advance one solver step of length :attr:`dt`."""
        start = time.perf_counter()
        n_u = self._n_u
        extrapolated = 2.0 * self._u - self._u_prev
        history = (4.0 * self._u - self._u_prev) / (2.0 * self.dt)
        rhs_u = (self._mass @ history.T).T - self._convection(extrapolated)
        rhs = np.concatenate([rhs_u[0], rhs_u[1], np.zeros(self._n_p)])
        boundary = np.zeros(2 * n_u + self._n_p)
        boundary[self._inflow_dofs] = self._inflow_profile * self.ramp(self.time + self.dt)
        values_d = boundary[self._dirichlet]
        solution = boundary
        solution[self._free] = self._lu.solve(rhs[self._free] - self._coupling @ values_d)
        self._u_prev = self._u
        self._u = solution[: 2 * n_u].reshape(2, n_u)
        self._p = solution[2 * n_u :]
        self.time += self.dt
        self.steps_taken += 1
        self._step_seconds += time.perf_counter() - start

    def advance_frame(self) -> None:
        """Advance :attr:`substeps` steps (one stored frame); raises if the run blew up."""
        for _ in range(self.substeps):
            self.step()
        peak = float(np.abs(self._u).max())
        if not math.isfinite(peak) or peak > _BLOWUP_FACTOR * self.config.peak_inflow:
            raise FloatingPointError(
                f"the flow solution blew up at t = {self.time:.3f} s (max |u| = {peak:.3g} m/s "
                f"with Um = {self.config.peak_inflow} m/s); rerun with more substeps per frame "
                f"(now {self.substeps}) or a smaller courant (now {self.config.courant})"
            )

    @property
    def ms_per_step(self) -> float:
        """Mean wall-clock time per solver step so far, ms."""
        return 1e3 * self._step_seconds / max(self.steps_taken, 1)

    # -- outputs and diagnostics -----------------------------------------------------------

    def vertex_fields(self) -> tuple[np.ndarray, np.ndarray]:
        """Velocity ``[N, 2]`` (m/s) and pressure ``[N]`` (m^2/s^2) at the mesh vertices."""
        nodal = self._velocity_basis.nodal_dofs[0]
        velocity = self._u[:, nodal].T.copy()
        pressure = self._p[self._pressure_basis.nodal_dofs[0]].copy()
        return velocity, pressure

    def boundary_flux(self, name: str) -> float:
        """Outward volume flux ``∫ u . n ds`` through boundary ``name``, m^2/s."""
        skfem = _skfem()
        if name not in ("inlet", "outlet", "walls", "cylinder"):
            raise ValueError(f"unknown boundary {name!r}; use inlet, outlet, walls or cylinder")
        facet_basis = skfem.FacetBasis(
            self._fe_mesh,
            skfem.ElementTriP2(),
            facets=self._fe_mesh.boundaries[name],
            intorder=_INTORDER,
        )

        @skfem.Functional
        def flux(w):
            return w["ux"] * w.n[0] + w["uy"] * w.n[1]

        return float(
            flux.assemble(
                facet_basis,
                ux=facet_basis.interpolate(self._u[0]),
                uy=facet_basis.interpolate(self._u[1]),
            )
        )

    def divergence_ratio(self) -> float:
        """``||div u||_L2 / ||grad u||_L2`` over the fluid (dimensionless).

        Taylor-Hood velocities are divergence-free only against P1 test functions, so this
        is small but not zero; ``nan`` for a fluid at rest.
        """
        skfem = _skfem()
        vb = self._velocity_basis

        @skfem.Functional
        def divergence(w):
            return (w["ux"].grad[0] + w["uy"].grad[1]) ** 2

        @skfem.Functional
        def gradient(w):
            return (w["ux"].grad ** 2).sum(0) + (w["uy"].grad ** 2).sum(0)

        fields = {"ux": vb.interpolate(self._u[0]), "uy": vb.interpolate(self._u[1])}
        denominator = float(gradient.assemble(vb, **fields))
        if denominator == 0:
            return math.nan
        return math.sqrt(float(divergence.assemble(vb, **fields)) / denominator)


def simulate(
    mesh: ChannelMesh,
    config: FlowConfig,
    frames: int,
    warmup_frames: int = 0,
    on_frame: Callable[[int, int], None] | None = None,
) -> FlowTrajectory:
    """Run from rest, discard ``warmup_frames`` frames, and store the next ``frames``.

    The first stored frame is the state at ``t = warmup_frames * frame_dt``; consecutive
    frames are ``frame_dt`` apart.

    Args:
        mesh: channel mesh.
        config: flow parameters.
        frames: number of stored frames ``F`` (>= 1).
        warmup_frames: frames simulated and dropped before the first stored one.
        on_frame: called as ``on_frame(done, total)`` after every simulated frame (progress).

    Returns:
        the stored frames at the mesh vertices, with timings.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if warmup_frames < 0:
        raise ValueError(f"warmup_frames must be >= 0, got {warmup_frames}")
    solver = CylinderFlowSolver(mesh, config)
    total = warmup_frames + frames - 1
    for done in range(1, warmup_frames + 1):
        solver.advance_frame()
        if on_frame is not None:
            on_frame(done, total)
    velocity = np.empty((frames, mesh.num_nodes, 2))
    pressure = np.empty((frames, mesh.num_nodes))
    times = np.empty(frames)
    for index in range(frames):
        if index:
            solver.advance_frame()
            if on_frame is not None:
                on_frame(warmup_frames + index, total)
        times[index] = (warmup_frames + index) * config.frame_dt
        velocity[index], pressure[index] = solver.vertex_fields()
    return FlowTrajectory(
        times=times,
        velocity=velocity,
        pressure=pressure,
        substeps=solver.substeps,
        solver_dt=solver.dt,
        ms_per_step=solver.ms_per_step,
        setup_seconds=solver.setup_seconds,
    )

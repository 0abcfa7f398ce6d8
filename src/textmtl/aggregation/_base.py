"""Base classes of the aggregators (TorchJD-like design, see anchors.md §4.1).

An :class:`Aggregator` turns the K x P Jacobian ``J`` of the task losses w.r.t. the
shared parameters (row i = gradient g_i of task i) into one update direction of length P
(the vector written into ``.grad``; the optimiser then *subtracts* it).

Most methods only need the Gram matrix ``G = J J^T`` (K x K): they subclass
:class:`GramianWeightedAggregator`, implement ``_weights(gram, losses)`` and are thereby
usable both with the full Jacobian (``agg(J)`` -> ``weights @ J``) and with a Gram-only
gradient engine (``agg.weights(G)``). Methods that act coordinate-wise on J (GradDrop)
subclass :class:`Aggregator` directly.

Conventions shared by every aggregator
--------------------------------------
* ``name: ClassVar[str]`` -- registry key; hyper-parameters are keyword-only ``__init__``
  arguments stored under the same attribute names (``hparams()`` / ``__repr__``).
* ``last_weights`` -- the K weights of the last call (a tensor in the Jacobian's
  dtype/device), or ``None`` before the first call / for non-weighted methods.
* ``state_dict()`` / ``load_state_dict()`` -- JSON-serialisable (lists, floats, ints);
  empty for stateless methods. ``reset()`` clears the state (and ``last_weights``).
* Computation is done under ``torch.no_grad()``; the output has the dtype/device of J.
  The small K x K problems are solved in float64 on the CPU (see ``_solvers``).
* ``losses`` (length K, the current task losses) is only used by the methods whose
  ``requires_losses`` is True (MGDA 'loss'/'loss+' normalisation, official GetMTL, EMTL);
  others ignore it.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["Aggregator", "GramianWeightedAggregator"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Aggregator(ABC):
    """Combine the K x P task Jacobian into a single update direction of length P."""

    name: ClassVar[str] = ""
    #: Mathematical properties the aggregator guarantees; tests/aggregation/test_properties.py checks
    #: each declared one on random Jacobians:
    #: - "permutation_invariant": reordering the tasks (rows of J) leaves the direction unchanged;
    #: - "equivariant_weights": ... and the weights are reordered with them (when G has full rank);
    #: - "positively_homogeneous": f(aJ) = a f(J) for a > 0 (with `homogeneous_hparams`);
    #: - "unique_when_rank_deficient": the direction stays permutation invariant when K > P (it is unique).
    properties: ClassVar[frozenset[str]] = frozenset()
    homogeneous_hparams: ClassVar[dict[str, Any]] = {}  # hyper-parameters under which f(aJ) = a f(J)
    #: True when the method keeps state across calls (see ``state_dict`` / ``reset``).
    stateful: ClassVar[bool] = False

    def __init__(self) -> None:
        self.last_weights: Tensor | None = None

    # ----------------------------------------------------------------- public API
    @property
    def requires_losses(self) -> bool:
        """Whether ``losses=`` must be passed to ``__call__`` / ``weights``."""
        return False

    def __call__(self, jacobian: Tensor, *, losses: Tensor | None = None) -> Tensor:
        """Aggregate ``jacobian`` (K x P, rows = tasks) into a direction of length P."""
        if not isinstance(jacobian, Tensor) or jacobian.ndim != 2:
            shape = tuple(jacobian.shape) if isinstance(jacobian, Tensor) else type(jacobian)
            raise ValueError(f"{type(self).__name__}: expected a 2-D K x P Jacobian, got {shape}")
        if not jacobian.is_floating_point():
            raise ValueError(f"{type(self).__name__}: the Jacobian must be floating point")
        K, P = jacobian.shape
        losses = self._check_losses(losses, K, jacobian)
        with torch.no_grad():
            J = jacobian.detach()
            if K == 0 or P == 0:
                self.last_weights = torch.zeros(K, dtype=J.dtype, device=J.device)
                return torch.zeros(P, dtype=J.dtype, device=J.device)
            return self._aggregate(J, losses)

    @abstractmethod
    def _aggregate(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        """Compute the direction; ``jacobian`` is detached, K >= 1 and P >= 1."""

    # ------------------------------------------------------------ hyper-parameters
    @classmethod
    def hparam_defaults(cls) -> dict[str, Any]:
        """Keyword hyper-parameters of ``__init__`` and their defaults."""
        sig = inspect.signature(cls.__init__)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def hparams(self) -> dict[str, Any]:
        """Current hyper-parameter values (JSON-serialisable)."""
        return {k: _jsonable(getattr(self, k)) for k in self.hparam_defaults()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"{type(self).__name__}({args})"

    # ---------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable internal state (empty for stateless methods)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`."""
        if state:
            raise ValueError(f"{type(self).__name__} is stateless; unexpected state keys {sorted(state)}")

    def reset(self) -> None:
        """Forget everything learnt from previous calls."""
        self.last_weights = None

    # ------------------------------------------------------------------- helpers
    def _check_losses(self, losses: Tensor | None, K: int, ref: Tensor) -> Tensor | None:
        if losses is None:
            if self.requires_losses:
                raise ValueError(
                    f"{type(self).__name__} needs the per-task losses: call it as aggregator(jacobian, losses=losses)"
                )
            return None
        losses = torch.as_tensor(losses).detach()
        if losses.ndim != 1 or losses.shape[0] != K:
            raise ValueError(
                f"{type(self).__name__}: expected {K} losses (one per task), got shape {tuple(losses.shape)}"
            )
        return losses


class GramianWeightedAggregator(Aggregator):
    """Aggregator whose weights depend only on ``G = J J^T`` (and optionally the losses).

    Subclasses implement :meth:`_weights`; :meth:`weights` is the public Gram-only entry
    point (for engines that never materialise J), ``__call__`` computes G once and
    returns ``weights @ J``.
    """

    def weights(self, gram: Tensor, *, losses: Tensor | None = None) -> Tensor:
        """The K combination weights for the K x K Gram matrix ``gram`` (= J J^T)."""
        if not isinstance(gram, Tensor) or gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
            shape = tuple(gram.shape) if isinstance(gram, Tensor) else type(gram)
            raise ValueError(f"{type(self).__name__}: expected a square K x K Gram matrix, got {shape}")
        K = gram.shape[0]
        losses = self._check_losses(losses, K, gram)
        with torch.no_grad():
            gram = gram.detach()
            if K == 0:
                w = torch.zeros(0, dtype=gram.dtype, device=gram.device)
            else:
                w = torch.as_tensor(self._weights(gram, losses)).to(dtype=gram.dtype, device=gram.device)
        self.last_weights = w
        return w

    @abstractmethod
    def _weights(self, gram: Tensor, losses: Tensor | None) -> Tensor | np.ndarray:
        """K weights from the (detached, K >= 1) Gram matrix; any dtype/device."""

    def _refine(self, jacobian: Tensor) -> np.ndarray | None:
        """Optional second pass with J available (called right after ``weights``).

        Methods whose weights contain a norm ||sum_i c_i g_i|| (CAGrad, GetMTL) recompute
        it from the actual vector: from a Gram it is only accurate to ~sqrt(eps) * max||g_i||
        (cancellation), from J it is exact to the working precision.
        Return the corrected float64 weights, or None to keep them.
        """
        return None

    def _aggregate(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        J = jacobian
        Jg = J.float() if J.dtype in (torch.float16, torch.bfloat16) else J
        gram = Jg @ Jg.T
        w = self.weights(gram, losses=losses)
        refined = self._refine(J)
        if refined is not None:
            w = torch.as_tensor(refined).to(dtype=gram.dtype, device=gram.device)
        w = w.to(dtype=J.dtype)
        self.last_weights = w
        return w @ J


# ----------------------------------------------------------------------------- utils


def gram64(gram: Tensor) -> np.ndarray:
    """The Gram matrix as a symmetric float64 NumPy array (host copy)."""
    G = gram.detach().to(device="cpu", dtype=torch.float64).numpy()
    return 0.5 * (G + G.T)


def losses64(losses: Tensor) -> np.ndarray:
    return losses.detach().to(device="cpu", dtype=torch.float64).numpy()


def dtype_eps(gram: Tensor) -> float:
    """Machine epsilon of the Gram's dtype (float32 Jacobians give float32 Grams)."""
    return float(torch.finfo(gram.dtype).eps)


def norm_tol(gram: Tensor) -> float:
    """Relative threshold below which a norm computed from this Gram is round-off.

    Norms obtained as sqrt(w'Gw) lose half of the digits: the absolute error is about
    sqrt(eps) * max_i ||g_i||. Used to decide that a combination g_w is numerically zero.
    """
    return 4.0 * math.sqrt(dtype_eps(gram))


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    return seed


def check_pref_vector(pref_vector: Any) -> list[float] | None:
    if pref_vector is None:
        return None
    try:
        values = [float(v) for v in pref_vector]
    except TypeError as exc:
        raise ValueError(f"pref_vector must be a list of floats or None, got {pref_vector!r}") from exc
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"pref_vector must be a non-empty list of finite floats, got {pref_vector!r}")
    return values


def pref_weights(pref_vector: list[float] | None, K: int) -> np.ndarray:
    if pref_vector is None:
        return np.full(K, 1.0 / K)
    if len(pref_vector) != K:
        raise ValueError(f"pref_vector has {len(pref_vector)} entries but there are {K} tasks")
    return np.asarray(pref_vector, dtype=np.float64)


class SeededRNG:
    """A private ``torch.Generator`` when ``seed`` is given, else the global torch RNG.

    The generator lives on the CPU; random tensors are moved to the target device, so
    results are identical on every device for a given seed.
    """

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.generator: torch.Generator | None = None
        self.reset()

    def reset(self) -> None:
        if self.seed is None:
            self.generator = None
        else:
            self.generator = torch.Generator(device="cpu")
            self.generator.manual_seed(self.seed)

    def randperm(self, n: int) -> Tensor:
        return torch.randperm(n, generator=self.generator)

    def rand(self, n: int, dtype: torch.dtype) -> Tensor:
        return torch.rand(n, generator=self.generator, dtype=dtype)

    def state(self) -> list[int] | None:
        if self.generator is None:
            return None
        return self.generator.get_state().tolist()

    def load_state(self, state: list[int] | None) -> None:
        if state is None or self.generator is None:
            return
        self.generator.set_state(torch.tensor(state, dtype=torch.uint8))

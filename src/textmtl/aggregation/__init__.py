"""Conflict-aware gradient aggregation: the pure mathematics of MTL update rules.

A gradient engine computes, once per training step, the K x P Jacobian ``J`` of the K
task losses w.r.t. the shared parameters (row i = g_i), or only its Gram matrix
``G = J J^T``, and hands it to an :class:`Aggregator`:

>>> import torch
>>> from textmtl.aggregation import make_aggregator
>>> agg = make_aggregator("upgrad")
>>> J = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
>>> agg(J)                          # direction of length P, to write into .grad
tensor([0.2924, 1.9006, 1.9006])
>>> agg.weights(J @ J.T)            # Gram-only engines (GramianWeightedAggregator)
tensor([1.1111, 0.7895])
>>> make_aggregator("upgrad", reg_eps=1e-4)(J)   # = torchjd.aggregation.UPGrad()(J)
tensor([0.2929, 1.9004, 1.9004])
>>> make_aggregator("cagrad", c=0.5)
CAGrad(c=0.5, rescale=0)

Registered methods (``AGGREGATORS`` / ``describe()``), one module each (the module
docstrings give the paper, the equations and every deliberate deviation):

=============== =============================================== ============= =========
name            method                                          output scale  losses
=============== =============================================== ============= =========
mean            linear scalarisation, weights 1/K               mean          no
sum             linear scalarisation, weights 1                 sum           no
mgda            Sener & Koltun 2018, exact min-norm point       convex comb.  optional
pcgrad          Yu et al. 2020 (seeded random order)            sum           no
gradvac         Wang et al. 2021 (stateful EMA targets)         sum           no
graddrop        Chen et al. 2020 (seeded random sign masks)     sum           no
cagrad          Liu et al. 2021 (exact dual on G)               mean          no
imtl_g          Liu et al. 2021 (closed form, weights sum 1)    affine comb.  no
nash_mtl        Navon et al. 2022 (exact G a = 1/a, stateful)   own, clipped  no
aligned_mtl     Senushkin et al. 2023                           mean          no
upgrad          Quinton & Rey 2024 (TorchJD)                    mean          no
getmtl          Chai et al. 2023, paper Eqs. 5, 13, 14          mean          optional
getmtl_official Chai et al. 2023, released code                 sum (x K)     yes
emtl            EMTL-style, UNVERIFIED (Yuan & Zhang 2023)      sum           yes
=============== =============================================== ============= =========

All K x K problems are solved in float64 by the small exact solvers of ``_solvers``
(active-set QP, a 1-D root search for the CAGrad/GetMTL duals, damped Newton for Nash-MTL):
no cvxpy, no scipy.optimize.minimize.
"""

from __future__ import annotations

from ._aligned_mtl import AlignedMTL
from ._base import Aggregator, GramianWeightedAggregator
from ._cagrad import CAGrad
from ._emtl import EMTL
from ._getmtl import GetMTL
from ._getmtl_official import GetMTLOfficial
from ._graddrop import GradDrop
from ._gradvac import GradVac
from ._imtl_g import IMTLG

# Importing the method modules registers them.
from ._mean import Mean
from ._mgda import MGDA
from ._nash_mtl import NashMTL
from ._pcgrad import PCGrad
from ._registry import AGGREGATORS, describe, make_aggregator, register
from ._sum import Sum
from ._upgrad import UPGrad

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "AlignedMTL",
    "CAGrad",
    "EMTL",
    "GetMTL",
    "GetMTLOfficial",
    "GradDrop",
    "GradVac",
    "GramianWeightedAggregator",
    "IMTLG",
    "MGDA",
    "Mean",
    "NashMTL",
    "PCGrad",
    "Sum",
    "UPGrad",
    "describe",
    "make_aggregator",
    "register",
]

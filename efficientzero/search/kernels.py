"""Compiled search kernels over the arrays of a :class:`~efficientzero.search.tree.Tree`.

Each kernel loops over the B roots of a batch; between two kernel calls the driver makes one
batched network call. The kernels take the :class:`Tree` NamedTuple of arrays (numba types it
field by field); shapes use B roots, N = num_simulations + 1 nodes, A actions. They are serial:
on the 2-core target machine, with another process on one core, ``prange`` over roots was no
faster (workqueue threads) or 3-9x slower (OpenMP threads) at B = 256 and 1536; and
``fastmath`` is off so that scores, and hence ties, are reproducible by a plain reference.

Semantics (MuZero's pUCT, Schrittwieser et al. 2020, Appendix B; Ye et al. 2021, §4.2 and
Appendix A; the module docstring of :mod:`efficientzero.search.tree` has the full list):

- pUCT at a node with visit count N (its count when the walk arrives, the current visit not
  included) and child visits n(a):
  ``score(a) = P(a) * (c(N) * sqrt(N)) / (1 + n(a)) + normQ(a)``,
  ``c(N) = log((N + pb_c_base + 1) / pb_c_base) + pb_c_init``.
- ``Q(a) = r(a) + discount * value_sum(child) / visits(child)`` for a visited child; an unvisited
  child's Q is the mean Q of the node's visited children (0 term if it has none).
- ``normQ = clip((Q - min) / max(max - min, 0.01), 0, 1)`` with the min-max of every Q seen in the
  root's tree; 0 before the tree has seen one.
- Ties (scores within ``TIE_TOLERANCE`` of the best) are broken by ``tie_hash(seed, sim, node)``:
  with k tied actions, the (hash mod k)-th of them in action order is taken.

:class:`SearchRules` switches three of these to the EfficientZero reference code's rules
(docs/fidelity.md, items 5–7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import carray, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from efficientzero.search.tree import Tree


class SearchRules(NamedTuple):
    """Where the EfficientZero reference code's search differs from MuZero's; all off by default."""

    children_visits: bool = False
    """pUCT's N at an interior node is its children's visit sum (visits - 1), not its visits."""
    parent_mean_q: bool = False
    """An unvisited child's Q away from the root is (parent's mean Q + sum of visited children's
    Q) / (visited + 1), the parent's mean Q computed the same way one level up."""
    rebuild_min_max: bool = False
    """After each backup the min-max bounds are rebuilt from the Q of every node of the tree
    (with each node's own parent, unlike the reference's sibling bug), not only widened."""


def direct(kernel: Any, *args: Any) -> Callable[..., None]:
    """The compiled ``kernel`` for the types of ``args``, called without numba's typing of every
    argument on every call (compiled now if it is not yet).

    That typing is most of a kernel call's cost at small batches: about 9 of 11 µs for
    ``host_step``'s 15 arrays and 4 tuples, measured at B = 1 on a loaded 2-core machine (the
    entry point alone: 2.3 µs). The caller must pass arguments of exactly these types on every
    later call (dtypes, dimensions, layouts): nothing checks them, so only the search's own
    arrays qualify.
    """
    signature = tuple(numba.typeof(a) for a in args)
    if signature not in kernel.overloads:
        kernel.compile(signature)
    return kernel.overloads[signature].entry_point


TIE_TOLERANCE = 1e-9
"""Scores within this of the best score count as tied."""

MIN_Q_RANGE = 0.01
"""Floor of the min-max denominator, so early, nearly equal Q values are not blown up."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def tie_hash(seed: np.uint64, sim: int, node: int) -> np.uint64:
    """Counter-based hash of (root seed, simulation, node): the tie-break draw, reproducible.

    ``mix64(mix64(seed + sim * G) + node * G)`` in uint64 arithmetic (G = 0x9E3779B97F4A7C15).
    """
    x = _mix64(np.uint64(seed) + np.uint64(sim) * _GOLDEN)
    return _mix64(x + np.uint64(node) * _GOLDEN)


@njit(cache=True)
def init_roots(tree: Tree, root_prior: np.ndarray) -> None:
    """Reset each root (node 0) with its prior ``root_prior`` [B, A]; the rest of the tree is
    overwritten node by node as simulations create it, so it needs no reset."""
    for b in range(tree.children.shape[0]):
        tree.children[b, 0, :] = -1
        tree.prior[b, 0, :] = root_prior[b]
        tree.visits[b, 0] = 0
        tree.value_sum[b, 0] = 0.0
        tree.min_q[b] = np.inf
        tree.max_q[b] = -np.inf


@njit(cache=True, inline="always")
def _q(tree: Tree, b: int, child: int, discount: float) -> float:
    """Q of the edge into ``child``: r + discount * value_sum / visits."""
    return tree.reward[b, child] + discount * tree.value_sum[b, child] / tree.visits[b, child]


@njit(cache=True, inline="always")
def _pick_tied(scores: np.ndarray, best: float, draw: np.uint64) -> int:
    """The (draw mod k)-th of the k actions whose score is within TIE_TOLERANCE of ``best``."""
    num_ties = 0
    for a in range(scores.shape[0]):
        if scores[a] >= best - TIE_TOLERANCE:
            num_ties += 1
    pick = int(draw % np.uint64(num_ties)) if num_ties > 1 else 0
    for a in range(scores.shape[0]):
        if scores[a] >= best - TIE_TOLERANCE:
            if pick == 0:
                return a
            pick -= 1
    return -1  # unreachable: the best score itself is always tied


@njit(cache=True, inline="always")
def _select_child(
    tree: Tree,
    b: int,
    node: int,
    sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    parent_q: float,
    scratch: np.ndarray,
) -> tuple[int, float]:
    """(pUCT argmax at ``node`` of root ``b``, the node's mean Q for its children's walk).

    ``c`` = (discount, pb_c_base, pb_c_init); ``parent_q`` the parent's mean Q (used by
    ``rules.parent_mean_q``); ``scratch`` [2, A] float64 holds the children's Q (row 0) and
    scores (row 1).
    """
    discount, pb_c_base, pb_c_init = c
    children = tree.children[b, node]
    q_values, scores = scratch[0], scratch[1]
    # Mean Q over visited children: the Q an unvisited child is assumed to have.
    q_sum = 0.0
    num_visited = 0
    for a in range(children.shape[0]):
        if children[a] >= 0:
            q_values[a] = _q(tree, b, children[a], discount)
            q_sum += q_values[a]
            num_visited += 1
    if rules.parent_mean_q and node > 0:
        mean_q = (parent_q + q_sum) / (num_visited + 1)
        has_q = True
    else:
        mean_q = q_sum / num_visited if num_visited > 0 else 0.0
        has_q = num_visited > 0
    lo = tree.min_q[b]
    scale = max(tree.max_q[b] - lo, MIN_Q_RANGE)
    have_stats = tree.max_q[b] >= lo
    n_parent = tree.visits[b, node]
    if rules.children_visits and node > 0:
        n_parent -= 1  # the root's visits already equal its children's sum
    explore = (math.log((n_parent + pb_c_base + 1.0) / pb_c_base) + pb_c_init) * math.sqrt(n_parent)
    best = -np.inf
    for a in range(children.shape[0]):
        if node == 0 and not tree.legal[b, a]:
            scores[a] = -np.inf
            continue
        n_child = 0
        q = mean_q
        known = has_q
        if children[a] >= 0:
            n_child = tree.visits[b, children[a]]
            q = q_values[a]
            known = True
        norm_q = min(max((q - lo) / scale, 0.0), 1.0) if known and have_stats else 0.0
        scores[a] = tree.prior[b, node, a] * explore / (1.0 + n_child) + norm_q
        best = max(best, scores[a])
    return _pick_tied(scores, best, tie_hash(tree.seeds[b], sim, node)), mean_q


@njit(cache=True, inline="always")
def _select_root(
    tree: Tree,
    b: int,
    sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    out: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """``select`` for root ``b``."""
    node = 0
    action = forced_root_action[b]
    mean_q = 0.0
    if action < 0 or rules.parent_mean_q:  # a forced action needs the root's mean Q only
        chosen, mean_q = _select_child(tree, b, 0, sim, c, rules, 0.0, scratch)
        action = chosen if action < 0 else action
    while tree.children[b, node, action] >= 0:
        node = tree.children[b, node, action]
        action, mean_q = _select_child(tree, b, node, sim, c, rules, mean_q, scratch)
    out[0, b] = node
    out[1, b] = action
    out[2, b] = node * tree.children.shape[0] + b


@njit(cache=True)
def select(
    tree: Tree,
    sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    out: np.ndarray,
) -> None:
    """Walk down each root's tree by pUCT until an unexpanded edge.

    ``c`` = (discount, pb_c_base, pb_c_init); ``rules`` the :class:`SearchRules`.
    ``forced_root_action`` [B] int64 overrides pUCT at
    the root where >= 0 (Gumbel root selection composes through it). Writes ``out`` [3, B]
    int64: the parent node of the new leaf (row 0), the action of the unexpanded edge (row 1)
    and the parent's row ``parent * B + b`` in the embedding store (row 2; node-major, so that
    one node of every tree is one contiguous block). The path is recovered during backup
    through the ``parent`` pointers.
    """
    scratch = np.empty((2, tree.children.shape[2]))
    for b in range(tree.children.shape[0]):
        _select_root(tree, b, sim, c, rules, forced_root_action, out, scratch)


# numba (0.6x) miscompiles a prange loop whose body is an inline="always" function that writes
# arrays of the tree (the writes are lost), so the parallel kernels call twins compiled without
# inlining; the serial kernels keep the inlined ones (a call per root costs them about 30%).
_select_root_call = njit(_select_root.py_func)


@njit(cache=True, parallel=True)
def select_parallel(
    tree: Tree,
    sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    out: np.ndarray,
) -> None:
    """``select`` with the roots shared among numba's threads (roots are independent)."""
    for b in prange(tree.children.shape[0]):
        scratch = np.empty((2, tree.children.shape[2]))
        _select_root(tree, b, sim, c, rules, forced_root_action, out, scratch)


@njit(cache=True, inline="always")
def _softmax_row(logits: np.ndarray, out: np.ndarray) -> None:
    """``out`` [A] = softmax(``logits`` [A]) in float32 arithmetic (shifted by the max)."""
    top = logits[0]
    for a in range(1, logits.shape[0]):
        top = max(top, logits[a])
    total = np.float32(0.0)
    for a in range(logits.shape[0]):
        e = np.float32(np.exp(np.float32(logits[a] - top)))
        out[a] = e
        total += e
    for a in range(logits.shape[0]):
        out[a] /= total


@njit(cache=True, inline="always")
def _expand_root(
    tree: Tree,
    b: int,
    i: int,
    selected: np.ndarray,
    step: np.ndarray,
    discount: float,
    rebuild_min_max: bool,
) -> None:
    """``expand_and_backup`` for root ``b``."""
    _create_node(tree, b, i, selected, step[b, 0])
    tree.prior[b, i, :] = step[b, 2:]
    _backup(tree, b, i, np.float64(step[b, 1]), discount, rebuild_min_max)


@njit(cache=True, inline="always")
def _create_node(tree: Tree, b: int, i: int, selected: np.ndarray, reward: float) -> None:
    """Node ``i`` of root ``b`` under the selected (parent, action), with its edge's reward
    (its prior is written by the caller)."""
    p, a = selected[0, b], selected[1, b]
    tree.children[b, p, a] = i
    tree.parent[b, i] = p
    tree.action[b, i] = a
    tree.reward[b, i] = reward
    tree.children[b, i, :] = -1
    tree.visits[b, i] = 0
    tree.value_sum[b, i] = 0.0


@njit(cache=True, inline="always")
def _backup(tree: Tree, b: int, i: int, v: float, discount: float, rebuild_min_max: bool) -> None:
    """Back the new node ``i``'s value ``v`` up to root ``b`` (see ``expand_and_backup``)."""
    node = i
    while node > 0:
        tree.value_sum[b, node] += v
        tree.visits[b, node] += 1
        q = _q(tree, b, node, discount)
        tree.min_q[b] = min(tree.min_q[b], q)
        tree.max_q[b] = max(tree.max_q[b], q)
        v = tree.reward[b, node] + discount * v
        node = tree.parent[b, node]
    tree.value_sum[b, 0] += v
    tree.visits[b, 0] += 1
    if rebuild_min_max:
        lo, hi = np.inf, -np.inf
        for n in range(1, i + 1):
            q = _q(tree, b, n, discount)
            lo = min(lo, q)
            hi = max(hi, q)
        tree.min_q[b] = lo
        tree.max_q[b] = hi


_expand_root_call = njit(_expand_root.py_func)  # for the parallel kernel (see select_parallel)


@njit(cache=True)
def expand_and_backup(
    tree: Tree,
    node_index: int,
    selected: np.ndarray,
    step: np.ndarray,
    discount: float,
    rebuild_min_max: bool = False,
) -> None:
    """Create node ``node_index`` under each selected (parent, action) and back its value up.

    ``selected`` [3, B] int64 is ``select``'s output; ``step`` [B, 2 + A] float32 the network's
    output for the new nodes: reward (column 0), value (column 1), prior (columns 2..). Backup
    from the leaf to the root: ``value_sum += v; visits += 1``; the min-max statistics take
    the node's Q = r + discount * mean value (non-root nodes); then ``v = r + discount * v``.
    With ``rebuild_min_max`` the bounds are then recomputed from the Q of nodes 1..node_index.
    """
    for b in range(tree.children.shape[0]):
        _expand_root(tree, b, node_index, selected, step, discount, rebuild_min_max)


@njit(cache=True, parallel=True)
def expand_and_backup_parallel(
    tree: Tree,
    node_index: int,
    selected: np.ndarray,
    step: np.ndarray,
    discount: float,
    rebuild_min_max: bool = False,
) -> None:
    """``expand_and_backup`` with the roots shared among numba's threads."""
    for b in prange(tree.children.shape[0]):
        _expand_root_call(tree, b, node_index, selected, step, discount, rebuild_min_max)


@njit(cache=True)
def root_statistics(tree: Tree, discount: float, out_visits: np.ndarray, out_q: np.ndarray) -> None:
    """Root child visit counts ``out_visits`` [B, A] and Q values ``out_q`` [B, A] (0 unvisited)."""
    for b in range(tree.children.shape[0]):
        for a in range(tree.children.shape[2]):
            child = tree.children[b, 0, a]
            if child >= 0:
                out_visits[b, a] = tree.visits[b, child]
                out_q[b, a] = _q(tree, b, child, discount)
            else:
                out_visits[b, a] = 0
                out_q[b, a] = 0.0


# ------------------------------------------------------------------ host (CPU) simulation steps
#
# On the CPU a node's embedding is never copied into the tree: the model's output tensors stay
# alive until the search ends (``search.host``) and the tree records their addresses
# (``torch.Tensor.data_ptr``), a row of addresses per node (every simulation creates one node in
# every root, so row b of those tensors is root b's node). The kernels below read the tensors
# through those addresses and copy each selected parent's rows straight into the model's next
# input tensors: one copy of an embedding per simulation and root, the gather. That makes a
# simulation one compiled call besides the network call: no numpy views, gathers or stores from
# Python (each costs about a microsecond per tensor, and the EfficientZero embedding has five).
# The caller (``search.host``) checks each tensor's device, dtype, shape and contiguity before
# handing its address over.


@intrinsic
def _byte_pointer(typingctx, address):  # type: ignore[no-untyped-def]
    """The ``uint8*`` at integer ``address`` (an int64 holding a tensor's data pointer)."""
    if not isinstance(address, types.Integer):
        return None
    sig = types.CPointer(types.uint8)(address)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _memcpy(typingctx, dst, src, nbytes):  # type: ignore[no-untyped-def]
    """Copy ``nbytes`` bytes from address ``src`` to address ``dst`` (LLVM's memcpy; a byte
    loop over numba arrays is not vectorised and runs several times slower)."""
    if not all(isinstance(t, types.Integer) for t in (dst, src, nbytes)):
        return None
    sig = types.void(dst, src, nbytes)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d, s, n = args
        byte_ptr = cgutils.voidptr_t
        cgutils.raw_memcpy(
            builder, builder.inttoptr(d, byte_ptr), builder.inttoptr(s, byte_ptr), n, 1
        )
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _floats_at(address: int, rows: int, cols: int) -> np.ndarray:
    """The C-contiguous ``[rows, cols]`` float32 array at ``address``."""
    return carray(_byte_pointer(address), (rows, 4 * cols)).view(np.float32)  # type: ignore[call-arg]


class HostStep(NamedTuple):
    """The host buffers and tensor addresses of one search (``search.host.HostStore`` fills it)."""

    nodes: np.ndarray
    """[N, K] int64 addresses of the K embedding tensors ([B, ...] each) holding node ``i`` of
    every root: row ``b`` of tensor ``k`` is root ``b``'s, at ``nodes[i, k] + b * sizes[k]``."""
    sizes: np.ndarray
    """[K] int64 bytes of one row of each embedding tensor (its ``[0]``)."""
    targets: np.ndarray
    """[K] int64 addresses of the K parent tensors handed to the model ([B, ...] each)."""
    sources: np.ndarray
    """[K + 3] int64 addresses of the model's last output: the K embedding tensors, then its
    reward [B], value [B] and prior logits [B, A] (float32)."""


@njit(cache=True, inline="always")
def _gather_row(host: HostStep, b: int, node: int) -> None:
    """Root ``b``'s node ``node`` -> row ``b`` of the parent tensors handed to the model
    (``host.targets``)."""
    for k in range(host.sizes.shape[0]):
        size = host.sizes[k]
        _memcpy(host.targets[k] + b * size, host.nodes[node, k] + b * size, size)  # type: ignore[call-arg]


@njit(cache=True)
def _record_node(host: HostStep, node_index: int) -> None:
    """The model's last output embedding (``host.sources``) becomes node ``node_index``."""
    for k in range(host.sizes.shape[0]):
        host.nodes[node_index, k] = host.sources[k]


@njit(cache=True, inline="always")
def _host_root_step(
    tree: Tree,
    b: int,
    node_index: int,
    next_sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    selected: np.ndarray,
    host: HostStep,
    scratch: np.ndarray,
) -> None:
    """``host_step`` for root ``b``."""
    batch = tree.children.shape[0]
    if node_index > 0:
        k = host.sizes.shape[0]
        num_actions = tree.children.shape[2]
        reward = float(_floats_at(host.sources[k], batch, 1)[b, 0])  # type: ignore[arg-type]
        value = float(_floats_at(host.sources[k + 1], batch, 1)[b, 0])  # type: ignore[arg-type]
        _create_node(tree, b, node_index, selected, reward)
        _softmax_row(
            _floats_at(host.sources[k + 2], batch, num_actions)[b], tree.prior[b, node_index]
        )
        _backup(tree, b, node_index, value, c[0], rules.rebuild_min_max)
    if next_sim >= 0:
        _select_root(tree, b, next_sim, c, rules, forced_root_action, selected, scratch)
        _gather_row(host, b, selected[0, b])


@njit(cache=True)
def host_step(
    tree: Tree,
    node_index: int,
    next_sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    selected: np.ndarray,
    host: HostStep,
) -> None:
    """One simulation's tree work on the host, for every root, in one call.

    If ``node_index`` > 0: store the model's last output (``host.sources``) as node
    ``node_index`` under the ``selected`` edges and back it up (as ``expand_and_backup``, the
    prior a float32 softmax of the logits). Then, if ``next_sim`` >= 0: select simulation
    ``next_sim``'s edges into ``selected`` (as ``select``) and gather their parents' embeddings
    into the model's input tensors (``host.targets``). ``c`` = (discount, pb_c_base, pb_c_init).
    """
    if node_index > 0:
        _record_node(host, node_index)
    scratch = np.empty((2, tree.children.shape[2]))
    for b in range(tree.children.shape[0]):
        _host_root_step(
            tree, b, node_index, next_sim, c, rules, forced_root_action, selected, host, scratch
        )


_host_root_step_call = njit(
    _host_root_step.py_func
)  # for the parallel kernel (see select_parallel)


@njit(cache=True, parallel=True)
def host_step_parallel(
    tree: Tree,
    node_index: int,
    next_sim: int,
    c: tuple[float, float, float],
    rules: SearchRules,
    forced_root_action: np.ndarray,
    selected: np.ndarray,
    host: HostStep,
) -> None:
    """``host_step`` with the roots shared among numba's threads (roots are independent)."""
    if node_index > 0:
        _record_node(host, node_index)
    for b in prange(tree.children.shape[0]):
        scratch = np.empty((2, tree.children.shape[2]))
        _host_root_step_call(
            tree, b, node_index, next_sim, c, rules, forced_root_action, selected, host, scratch
        )

"""Sparse row batches and the products an autoencoder needs on them.

The masked loss needs a model's output only where a rating was observed, and a
rating row is sparse. So the first layer multiplies a sparse batch by its weight
(work ~ ratings x width, not rows x columns x width) and the last layer computes
only the sampled outputs it is asked for (a sampled dense-dense product, SDDMM).
On the CPU both run through two compiled loops (cpu_kernels), several times
faster than torch's CPU sparse kernels and about twice as fast as scipy's, on a
pool of plain threads (`set_cpu_threads`). On CUDA a batch that fits is
densified on the device instead (faster there than cuSPARSE); larger ones use
torch.sparse.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from aerec.models import cpu_kernels

# Largest batch (rows x columns) densified on CUDA: 512 MiB in float32.
_DENSE_BATCH_MAX = 1 << 27


@dataclass
class SparseRows:
    """A batch of CSR rows living on one device (int64 indices, float32 values).

    `values` hold what the rows carry: ratings for a target pattern, deviations
    from the fill for a model input. Pattern-only derived data (row ids, the
    transposed order, the scipy view) is cached per object.
    """

    indptr: Tensor
    indices: Tensor
    values: Tensor
    n_cols: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_scipy(cls, csr: sp.csr_matrix, device: torch.device | str = "cpu") -> SparseRows:
        """Copy a scipy CSR matrix to `device` (indices sorted within rows)."""
        csr = sp.csr_matrix(csr)
        csr.sort_indices()
        return cls(
            torch.from_numpy(csr.indptr.astype(np.int64)).to(device),
            torch.from_numpy(csr.indices.astype(np.int64)).to(device),
            torch.from_numpy(csr.data.astype(np.float32)).to(device),
            int(csr.shape[1]),
        )

    @property
    def n_rows(self) -> int:
        return int(self.indptr.numel() - 1)

    @property
    def nnz(self) -> int:
        return int(self.indices.numel())

    @property
    def device(self) -> torch.device:
        return self.values.device

    def counts(self) -> Tensor:
        """Entries per row."""
        return self.indptr[1:] - self.indptr[:-1]

    def row_ids(self) -> Tensor:
        """The row of every stored entry, in storage order."""
        if "rows" not in self._cache:
            rows = torch.arange(self.n_rows, device=self.device)
            self._cache["rows"] = torch.repeat_interleave(rows, self.counts(), output_size=self.nnz)
        return self._cache["rows"]

    def with_values(self, values: Tensor) -> SparseRows:
        """The same pattern carrying other values; shares the pattern caches."""
        pattern_keys = ("rows", "tperm", "tindptr", "tindices")
        shared = {k: v for k, v in self._cache.items() if k in pattern_keys}
        return SparseRows(self.indptr, self.indices, values, self.n_cols, shared)

    def keep(self, mask: Tensor) -> SparseRows:
        """Only the stored entries where `mask` is true."""
        counts = torch.zeros(self.n_rows, dtype=torch.int64, device=self.device)
        counts.index_add_(0, self.row_ids(), mask.long())
        indptr = torch.zeros_like(self.indptr)
        torch.cumsum(counts, 0, out=indptr[1:])
        return SparseRows(indptr, self.indices[mask], self.values[mask], self.n_cols)

    def select(self, rows: Tensor) -> SparseRows:
        """The rows `rows` (any order, repeats allowed) as a new batch."""
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        indptr = torch.zeros(rows.numel() + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(counts, 0, out=indptr[1:])
        total = int(indptr[-1])
        shift = torch.repeat_interleave(starts - indptr[:-1], counts, output_size=total)
        pos = shift + torch.arange(total, device=self.device)
        return SparseRows(indptr, self.indices[pos], self.values[pos], self.n_cols)

    def hstack(self, other: SparseRows) -> SparseRows:
        """Concatenate the columns of `other` (same rows) after this batch's columns."""
        ca, cb = self.counts(), other.counts()
        indptr = torch.zeros_like(self.indptr)
        torch.cumsum(ca + cb, 0, out=indptr[1:])
        start = indptr[:-1]
        pos_a = (
            torch.arange(self.nnz, device=self.device) + (start - self.indptr[:-1])[self.row_ids()]
        )
        rows_b = other.row_ids()
        shift_b = (start + ca - other.indptr[:-1])[rows_b]
        pos_b = torch.arange(other.nnz, device=self.device) + shift_b
        indices = torch.empty(self.nnz + other.nnz, dtype=torch.int64, device=self.device)
        values = torch.empty(self.nnz + other.nnz, dtype=self.values.dtype, device=self.device)
        indices[pos_a], values[pos_a] = self.indices, self.values
        indices[pos_b], values[pos_b] = other.indices + self.n_cols, other.values
        return SparseRows(indptr, indices, values, self.n_cols + other.n_cols)

    def to_dense(self) -> Tensor:
        """The batch as a dense (rows x columns) matrix, zeros where nothing is stored."""
        out = torch.zeros(self.n_rows, self.n_cols, device=self.device, dtype=self.values.dtype)
        out[self.row_ids(), self.indices] = self.values
        return out

    # -- products (constant sparse operand; gradients flow to the dense ones) --
    # On the CPU they run the compiled loops of cpu_kernels, split by rows over
    # train.threads threads; elsewhere torch's sparse kernels.

    def _torch_csr(self, values: Tensor) -> Tensor:
        return _csr_tensor(self.indptr, self.indices, values, (self.n_rows, self.n_cols))

    def _transposed(self) -> tuple[Tensor, Tensor, Tensor]:
        """CSR pattern of the transpose: (indptr, indices, permutation of our values)."""
        if "tperm" not in self._cache:
            if self.device.type == "cpu":
                # scipy's counting sort (linear) is 3-4x faster here than a stable torch.sort.
                csc = sp.csr_matrix(
                    (np.arange(self.nnz), self.indices.numpy(), self.indptr.numpy()),
                    shape=(self.n_rows, self.n_cols),
                ).tocsc()
                perm, tindices, tindptr = (
                    torch.from_numpy(a.astype(np.int64))
                    for a in (csc.data, csc.indices, csc.indptr)
                )
            else:
                perm = torch.sort(self.indices, stable=True).indices
                tindptr = torch.zeros(self.n_cols + 1, dtype=torch.int64, device=self.device)
                counts = torch.bincount(self.indices, minlength=self.n_cols)
                torch.cumsum(counts, 0, out=tindptr[1:])
                tindices = self.row_ids()[perm]
            self._cache.update(tperm=perm, tindptr=tindptr, tindices=tindices)
        return self._cache["tindptr"], self._cache["tindices"], self._cache["tperm"]

    def mm(self, dense: Tensor) -> Tensor:
        """self @ dense, no autograd (used inside the autograd functions)."""
        dense = dense.float()
        if self.device.type != "cpu":
            return torch.sparse.mm(self._torch_csr(self.values), dense)
        return _cpu_rows_mm(self.indptr, self.indices, self.values, dense)

    def t_mm(self, dense: Tensor) -> Tensor:
        """self.T @ dense, no autograd."""
        dense = dense.float()
        tindptr, tindices, perm = self._transposed()
        if self.device.type != "cpu":
            csr_t = _csr_tensor(tindptr, tindices, self.values[perm], (self.n_cols, self.n_rows))
            return torch.sparse.mm(csr_t, dense)
        return _cpu_rows_mm(tindptr, tindices, self.values[perm], dense)

    def sample(self, left: Tensor, right: Tensor) -> Tensor:
        """(left @ right.T) at this pattern's entries, in storage order, no autograd."""
        left, right = left.float().contiguous(), right.float().contiguous()
        if self.nnz == 0:
            return left.new_zeros(0)
        if self.device.type != "cpu":
            pattern = self._torch_csr(torch.zeros_like(self.values))
            return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()
        indptr = self.indptr.numpy()
        out = np.empty(self.nnz, dtype=np.float32)
        args = (indptr, self.indices.numpy(), left.detach().numpy(), right.detach().numpy(), out)
        _cpu_map(lambda rows: cpu_kernels.rows_sample(*args, *rows), _blocks(indptr, self.nnz))
        return torch.from_numpy(out)


def _cpu_rows_mm(indptr: Tensor, indices: Tensor, values: Tensor, dense: Tensor) -> Tensor:
    """The CSR matrix (indptr, indices, values) @ dense, on the CPU threads."""
    ptr = indptr.numpy()
    out = np.empty((ptr.size - 1, dense.shape[1]), dtype=np.float32)
    args = (ptr, indices.numpy(), values.detach().numpy(), dense.detach().contiguous().numpy())
    _cpu_map(lambda rows: cpu_kernels.rows_mm(*args, out, *rows), _blocks(ptr, int(ptr[-1])))
    return torch.from_numpy(out)


# Threads for the CPU sparse products. The compiled loops release the GIL, so
# plain threads over blocks of rows use every core without OpenMP's
# spin-waiting, which made torch's own threads 8x slower on a busy 2-core
# machine. Set by the training loop (train.threads).
_CPU_THREADS = 1
_POOL: ThreadPoolExecutor | None = None
# Below this many entries a product is not worth splitting.
_SPLIT_MIN_NNZ = 20_000


def set_cpu_threads(n: int) -> None:
    """Use `n` threads for the CPU sparse products (1: the calling thread only)."""
    global _CPU_THREADS, _POOL
    if n != _CPU_THREADS and _POOL is not None:
        _POOL.shutdown()
        _POOL = None
    _CPU_THREADS = max(1, n)


def _blocks(indptr: np.ndarray, nnz: int) -> list[tuple[int, int]]:
    """Runs of the compressed axis with about equal entries, one per thread."""
    parts = _CPU_THREADS if nnz >= _SPLIT_MIN_NNZ else 1
    cuts = np.searchsorted(indptr, np.arange(1, parts) * nnz // parts).tolist()
    bounds = [0, *cuts, len(indptr) - 1]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a] or [(0, len(indptr) - 1)]


def _cpu_map(fn: Callable[[tuple[int, int]], None], blocks: list[tuple[int, int]]) -> None:
    """fn over the blocks: the first in the calling thread, the others in the pool."""
    global _POOL
    if len(blocks) > 1 and _POOL is None:
        _POOL = ThreadPoolExecutor(_CPU_THREADS - 1, thread_name_prefix="aerec-sparse")
    others = [_POOL.submit(fn, block) for block in blocks[1:]] if _POOL else []
    fn(blocks[0])
    for future in others:
        future.result()


def _csr_tensor(indptr: Tensor, indices: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A torch CSR tensor; our patterns are valid by construction, so no invariant checks."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(indptr, indices, values, size=size, check_invariants=False)


class _SparseMM(torch.autograd.Function):
    """sparse @ weight with the gradient for `weight` only (the input is data)."""

    @staticmethod
    def forward(ctx: Any, weight: Tensor, sparse: SparseRows) -> Tensor:
        ctx.sparse = sparse
        return sparse.mm(weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return ctx.sparse.t_mm(grad), None


class _SampledMM(torch.autograd.Function):
    """(left @ right.T) at a sparse pattern; gradients for both dense factors."""

    @staticmethod
    def forward(ctx: Any, left: Tensor, right: Tensor, pattern: SparseRows) -> Tensor:
        ctx.save_for_backward(left, right)
        ctx.pattern = pattern
        return pattern.sample(left, right)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        left, right = ctx.saved_tensors
        g = ctx.pattern.with_values(grad.float().contiguous())
        return g.mm(right).to(left.dtype), g.t_mm(left).to(right.dtype), None


def _dense_on_device(pattern: SparseRows) -> bool:
    """Whether to densify this batch instead of using sparse kernels.

    On CUDA a dense batch product (tensor cores, autocast) beats cuSPARSE at
    recommender shapes: bench/train.py measured the dense loop 3x faster than
    the sparse kernels on an H100 for ml-1m. The CPU keeps the sparse kernels,
    where the dense product is several times slower.
    """
    return pattern.device.type == "cuda" and pattern.n_rows * pattern.n_cols <= _DENSE_BATCH_MAX


def sparse_mm(sparse: SparseRows, weight: Tensor) -> Tensor:
    """sparse @ weight, differentiable in `weight` (float32 on the sparse path)."""
    if _dense_on_device(sparse):
        return sparse.to_dense() @ weight
    with torch.autocast(sparse.device.type, enabled=False):
        return _SparseMM.apply(weight.float(), sparse)


def sampled_mm(left: Tensor, right: Tensor, pattern: SparseRows) -> Tensor:
    """(left @ right.T) only at `pattern`'s entries, differentiable in both factors."""
    if _dense_on_device(pattern):
        return (left @ right.t())[pattern.row_ids(), pattern.indices]
    with torch.autocast(left.device.type, enabled=False):
        return _SampledMM.apply(left.float(), right.float(), pattern)

"""Synchronous data-parallel training over MPI (as Theano-MPI, Ma, Mao & Taylor 2016).

``mpirun -n N python -m zfnet train --distributed ...``: every rank holds the whole network and
the same data order; each step it computes the gradient on its share of the global batch, the
gradients are averaged with one Allreduce (weighted by each share's size), and every rank applies
the same Nesterov update. Rank 0 alone writes checkpoints and logs; after every epoch each rank
compares a checksum of its weights with rank 0's and stops the run on a mismatch. A rank that dies
ends the job: MPI's launcher (``mpiexec``) stops the others. mpi4py with the ``mpich`` wheel (a
root-free MPI, its ``mpiexec`` in the virtual environment) is the pinned pair.
"""
import zlib

import numpy as np

from ..errors import RanksDiverged, UsageError  # noqa: F401 (RanksDiverged: raised here, importable from here)


class World(object):
    """This process's place in the MPI job: ``rank``, ``size``, and the reductions."""

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError:
            raise UsageError("--distributed needs mpi4py and an MPI (pip install mpi4py mpich; "
                             "requirements.txt pins them)")
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    @property
    def root(self):
        """True on rank 0, the one that reports and writes."""
        return self.rank == 0

    def share(self, idx):
        """This rank's contiguous share of a global batch of indices (sizes differ by at most 1)."""
        return np.array_split(idx, self.size)[self.rank]

    def mean_gradients(self, grads, n_local, extra=()):
        """Average per-rank mean gradients weighted by the ranks' sample counts, with one
        Allreduce of one float32 buffer; ``extra`` numbers (per-sample means, e.g. the loss)
        are averaged alike. Returns (float32 gradients, extra averages, global count)."""
        sizes = [g.size for g in grads]
        buf = np.concatenate([np.asarray(g, np.float32).ravel() * np.float32(n_local) for g in grads]
                             + [np.asarray(extra, np.float32) * np.float32(n_local),
                                np.float32([n_local])])
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        total = buf[-1]
        out, start = [], 0
        for g, n in zip(grads, sizes):
            out.append((buf[start:start + n] / total).astype(np.float32).reshape(g.shape))
            start += n
        return out, buf[start:start + len(extra)] / total, int(total)

    def bytes_per_step(self, grads):
        """Bytes of one rank's Allreduce buffer (what it sends once per step, before the
        algorithm's factor: a ring Allreduce moves about 2 (N-1)/N times this per rank)."""
        return 4 * (sum(int(np.prod(g.shape)) for g in grads) + 4)

    def check_same_weights(self, arrays, epoch):
        """Compare a checksum of this rank's weights with rank 0's; all ranks raise on a mismatch."""
        h = 0
        for k in sorted(arrays):
            h = zlib.crc32(np.ascontiguousarray(arrays[k]).tobytes(), h)
        everyone = self.comm.allgather(h)
        if len(set(everyone)) != 1:
            raise RanksDiverged("after epoch %d the ranks' weights differ (checksums %s); the run "
                                "stops: data-parallel replicas must stay identical" % (epoch, everyone))

    def barrier(self):
        """Wait for every rank."""
        self.comm.Barrier()

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        return self.comm.bcast(obj, root=0)

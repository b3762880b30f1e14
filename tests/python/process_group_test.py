"""Communicator.from_process_group over a gloo group, one process per rank.

Run under tandemrun, which gives each rank TANDEM_RANK/TANDEM_WORLD_SIZE; the
gloo group meets through a file named after the job's id (the same on every
rank, fresh for every job), so the test needs no free port.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import unittest

import torch
import torch.distributed as dist

import tandem


class FromProcessGroup(unittest.TestCase):
    def test_world_and_subgroup(self) -> None:
        rank, size = int(os.environ["TANDEM_RANK"]), int(os.environ["TANDEM_WORLD_SIZE"])
        job = hashlib.sha256(os.environ["TANDEM_UNIQUE_ID"].encode()).hexdigest()[:16]
        store = os.path.join(tempfile.gettempdir(), f"tandem_pg_test_{job}")
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                                world_size=size)
        try:
            with tandem.Communicator.from_process_group() as comm:
                self.assertEqual((comm.rank, comm.size), (rank, size))
                x = torch.full((5,), float(rank + 1))
                comm.all_reduce(x)
                self.assertTrue(bool((x == size * (size + 1) / 2).all()), str(x))
            # A group of the odd ranks (its rank 0 is global rank 1): the id
            # comes from that rank, and ranks outside the group take no part.
            odd = [r for r in range(size) if r % 2 == 1]
            sub = dist.new_group(odd)
            if rank in odd:
                with tandem.Communicator.from_process_group(sub) as comm:
                    self.assertEqual((comm.rank, comm.size), (odd.index(rank), len(odd)))
                    y = comm.all_gather(torch.tensor([rank], dtype=torch.int64))
                    self.assertEqual(y.flatten().tolist(), odd)
            dist.barrier()
        finally:
            dist.destroy_process_group()
            if rank == 0 and os.path.exists(store):
                os.unlink(store)


if __name__ == "__main__":
    unittest.main()

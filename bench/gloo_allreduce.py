#!/usr/bin/python3
"""PyTorch's gloo all-reduce between processes on 127.0.0.1: the all-reduce a
PyTorch DDP job on CPU would use, and the reference `bagpipe bench allreduce`
holds Bagpipe's ring against.

For each size (float32 elements; K and M suffixes are 10^3 and 10^6) every rank
fills a tensor with ones, runs --warmup all-reduces, then --iters timed ones, each
started together after a barrier. Rank 0 prints one line per size:

  RESULT gloo_allreduce tag=25M elems=.. bytes=.. world=2 iters=.. secs_per_op=<median>
         min_secs=.. algbw_GBps=<bytes / median> busbw_GBps=<algbw * 2(world-1)/world>
         correct=True|False

busbw follows the nccl-tests convention, so it compares with link bandwidth.
correct says whether the sums came out as world^(warmup+iters).

Usage: /usr/bin/python3 gloo_allreduce.py [--sizes 1M,4M,25M] [--iters 10] [--warmup 2]
                                          [--world 2] [--port 29611]
Needs python3-torch.
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SCALE = {"K": 10 ** 3, "M": 10 ** 6}


def elements(tag):
    if tag and tag[-1] in SCALE:
        return int(tag[:-1]) * SCALE[tag[-1]]
    return int(tag)


def rank_main(rank, args):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(args.port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.world)
    for tag in args.sizes.split(","):
        n = elements(tag)
        data = torch.ones(n, dtype=torch.float32)
        for _ in range(args.warmup):
            dist.all_reduce(data)
        secs = []
        for _ in range(args.iters):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(data)
            secs.append(time.perf_counter() - t0)
        want = float(args.world) ** (args.warmup + args.iters)
        correct = abs(float(data[-1]) - want) <= 1e-3 * want and abs(float(data[0]) - want) <= 1e-3 * want
        if rank == 0:
            median = statistics.median(secs)
            algbw = 4 * n / median
            busbw = algbw * 2 * (args.world - 1) / args.world
            print("RESULT gloo_allreduce tag=%s elems=%d bytes=%d world=%d iters=%d secs_per_op=%.5f"
                  " min_secs=%.5f algbw_GBps=%.3f busbw_GBps=%.3f correct=%s"
                  % (tag, n, 4 * n, args.world, args.iters, median, min(secs), algbw / 1e9,
                     busbw / 1e9, correct), flush=True)
        del data
    dist.barrier()
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description="gloo all-reduce bandwidth on loopback (see the module comment).")
    p.add_argument("--sizes", default="1M,4M,25M", help="comma-separated float counts, e.g. 1M,4M,25M")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--port", type=int, default=29611)
    args = p.parse_args()
    try:
        sizes = [elements(t) for t in args.sizes.split(",")]
    except ValueError:
        p.error("--sizes must be numbers with an optional K or M suffix, e.g. 1M,4M,25M")
    if min(sizes) < 1 or args.iters < 1 or args.warmup < 0 or args.world < 2:
        p.error("sizes and --iters must be positive, --warmup >= 0, --world >= 2")
    mp.spawn(rank_main, args=(args,), nprocs=args.world, join=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The reference article's multi-process MIL training pipeline, on CPU, as the
baseline `bagpipe bench train` measures Bagpipe against.

What the article's pipeline does, and this script does the same way:
  * the data set keeps coordinates only: each slide's level-0 "x,y" CSV is shuffled
    and cut into --bag-num bags of --bag-size patches that carry the slide's label;
  * fetching a bag lists the slide folder to find the file, opens the slide with
    openslide.OpenSlide, reads every patch with read_region(...).convert("RGB"),
    applies Resize((224, 224)) and ToTensor() into a torch.empty bag tensor;
  * a DataLoader with batch_size=1 serves bags from --workers processes;
  * the model is MIL-CNN-S (below), trained with cross-entropy and
    SGD(lr 0.01, momentum 0.9, weight decay 1e-4), one bag per step;
  * the distributed run spawns --world ranks that join a gloo process group on
    127.0.0.1, wrap the model in DistributedDataParallel, split the bags with a
    DistributedSampler and use one intra-op thread each.

Modes, each printing one "RESULT seed mode=..." line:
  load     the DataLoader alone
  train    one process: load and train
  ddp      --world ranks: load and train; bags counted over all ranks
  compute  the training step alone, on one in-memory random bag

Timing: --warmup bags (per rank) first, then --bags measured bags; a finished epoch
starts the next (set_epoch, a fresh iterator), as a long run would. cpu_s is the
user+sys time of this process and all its descendants (loader workers, ranks) over
the measured window, so patches_per_cpu_s holds up when other jobs take cores.

Run with Debian's interpreter: /usr/bin/python3 mil_pipeline.py MODE [options]
Needs python3-torch, python3-torchvision and python3-openslide.
"""
import argparse
import csv
import os
import random
import time

import openslide
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchvision import transforms

PATCH = 224


def process_tree_cpu_seconds(root=None):
    """user+sys seconds of `root` (default: this process), of its reaped children
    and of every live descendant, read from /proc."""
    root = root or os.getpid()
    ticks = os.sysconf("SC_CLK_TCK")
    parent_of, used = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        pid = int(entry)
        parent_of[pid] = int(fields[1])
        used[pid] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    total = 0
    for pid, ticks_used in used.items():
        p = pid
        while p in parent_of and p != root:
            p = parent_of[p]
        if p == root:
            total += ticks_used
    return total / ticks


class SlideBags(Dataset):
    """Bags of patch coordinates; pixels are read when a bag is fetched."""

    def __init__(self, data, bag_size, bag_num, seed):
        self.slide_dir = os.path.join(data, "svs")
        self.bag_size = bag_size
        self.to_tensor = transforms.Compose([transforms.Resize((PATCH, PATCH)), transforms.ToTensor()])
        rng = random.Random(seed)
        self.bags = []
        with open(os.path.join(data, "manifest.csv")) as manifest:
            for row in csv.DictReader(manifest):
                with open(os.path.join(data, "coords", row["slide_id"] + ".csv")) as f:
                    xy = [(int(r["x"]), int(r["y"])) for r in csv.DictReader(f)]
                rng.shuffle(xy)
                for b in range(bag_num):
                    coords = xy[b * bag_size:(b + 1) * bag_size]
                    if len(coords) == bag_size:
                        self.bags.append((row["slide_id"], coords, int(row["label"])))
        rng.shuffle(self.bags)

    def __len__(self):
        return len(self.bags)

    def __getitem__(self, i):
        slide_id, coords, label = self.bags[i]
        name = next(f for f in os.listdir(self.slide_dir) if f.startswith(slide_id))
        slide = openslide.OpenSlide(os.path.join(self.slide_dir, name))
        bag = torch.empty(self.bag_size, 3, PATCH, PATCH)
        for k, xy in enumerate(coords):
            bag[k] = self.to_tensor(slide.read_region(xy, 0, (PATCH, PATCH)).convert("RGB"))
        return bag, label


class MilCnnS(nn.Module):
    """MIL-CNN-S: a three-convolution patch encoder (64 features per patch),
    attention pooling over the bag (Ilse et al. 2018) and a linear classifier."""

    def __init__(self, classes=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1))
        self.V = nn.Linear(64, 32)
        self.w = nn.Linear(32, 1)
        self.classifier = nn.Linear(64, classes)

    def forward(self, patches):                               # (N, 3, 224, 224)
        h = self.features(patches).flatten(1)                 # (N, 64)
        weights = torch.softmax(self.w(torch.tanh(self.V(h))), dim=0)
        return self.classifier((weights * h).sum(0, keepdim=True))  # (1, classes)


class Trainer:
    def __init__(self, model):
        self.model = model
        self.loss = nn.CrossEntropyLoss()
        self.sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        model.train()

    def step(self, bag, label):
        out = self.model(bag.squeeze(0))                      # the loader's batch of one bag
        loss = self.loss(out, label)
        self.sgd.zero_grad()
        loss.backward()
        self.sgd.step()
        return loss.item()


def endless(loader, sampler=None):
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def loader_for(args, dataset, sampler=None):
    return DataLoader(dataset, batch_size=1, shuffle=False, sampler=sampler,
                      num_workers=args.workers, pin_memory=False)


def report(args, mode, bags, secs, cpu, **extra):
    patches = bags * args.bag_size
    tail = "".join(" %s=%s" % kv for kv in extra.items())
    print("RESULT seed mode=%s workers=%s threads=%d bags=%d secs=%.3f bags_per_s=%.3f patches_per_s=%.1f"
          " cpu_s=%.2f patches_per_cpu_s=%.1f%s"
          % (mode, args.workers if mode != "compute" else "-", torch.get_num_threads(), bags, secs,
             bags / secs, patches / secs, cpu, patches / max(cpu, 1e-9), tail), flush=True)


def measure(n, body):
    """Runs body() n times; returns (seconds, CPU seconds of the process tree, last value)."""
    c0, t0, last = process_tree_cpu_seconds(), time.perf_counter(), None
    for _ in range(n):
        last = body()
    return time.perf_counter() - t0, process_tree_cpu_seconds() - c0, last


def mode_load(args):
    dataset = SlideBags(args.data, args.bag_size, args.bag_num, args.seed)
    bags = endless(loader_for(args, dataset))
    for _ in range(args.warmup):
        next(bags)
    secs, cpu, _ = measure(args.bags, lambda: float(next(bags)[0].view(-1)[0]))
    report(args, "load", args.bags, secs, cpu, n_bags_epoch=len(dataset))


def mode_train(args):
    torch.manual_seed(args.seed)
    dataset = SlideBags(args.data, args.bag_size, args.bag_num, args.seed)
    trainer = Trainer(MilCnnS())
    bags = endless(loader_for(args, dataset))
    for _ in range(args.warmup):
        trainer.step(*next(bags))
    secs, cpu, loss = measure(args.bags, lambda: trainer.step(*next(bags)))
    report(args, "train", args.bags, secs, cpu, last_loss="%.4f" % loss)


def mode_compute(args):
    torch.manual_seed(args.seed)
    trainer = Trainer(MilCnnS())
    bag, label = torch.rand(1, args.bag_size, 3, PATCH, PATCH), torch.tensor([1])
    for _ in range(args.warmup):
        trainer.step(bag, label)
    secs, cpu, _ = measure(args.bags, lambda: trainer.step(bag, label))
    report(args, "compute", args.bags, secs, cpu)


def rank_main(rank, args):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(args.port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.world)
    torch.manual_seed(args.seed)
    dataset = SlideBags(args.data, args.bag_size, args.bag_num, args.seed)
    sampler = DistributedSampler(dataset, num_replicas=args.world, rank=rank)
    trainer = Trainer(nn.parallel.DistributedDataParallel(MilCnnS()))
    bags = endless(loader_for(args, dataset, sampler), sampler)
    for _ in range(args.warmup):
        trainer.step(*next(bags))
    mine = args.bags // args.world
    dist.barrier()
    c0, t0 = process_tree_cpu_seconds(), time.perf_counter()
    for _ in range(mine):
        loss = trainer.step(*next(bags))
    dist.barrier()                                               # until the slowest rank is done
    secs, cpu = time.perf_counter() - t0, process_tree_cpu_seconds() - c0
    total_cpu = torch.tensor([cpu], dtype=torch.float64)
    dist.all_reduce(total_cpu)                                   # every rank and its loaders
    if rank == 0:
        report(args, "ddp", mine * args.world, secs, float(total_cpu), world=args.world,
               bags_per_rank=mine, last_loss="%.4f" % loss)
    bags.close()                                                 # stops this rank's loader workers
    dist.barrier()
    dist.destroy_process_group()


def mode_ddp(args):
    mp.spawn(rank_main, args=(args,), nprocs=args.world, join=True)


def main():
    p = argparse.ArgumentParser(description="The reference article's MIL pipeline (see the module comment).")
    p.add_argument("mode", choices=["load", "train", "ddp", "compute"])
    p.add_argument("--data", default="/tmp/peerdata", help="data set made by make_slides.sh")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (per rank)")
    p.add_argument("--bag-size", type=int, default=32)
    p.add_argument("--bag-num", type=int, default=8, help="bags cut from each slide")
    p.add_argument("--bags", type=int, default=64, help="measured bags, over all ranks")
    p.add_argument("--warmup", type=int, default=4, help="unmeasured bags first, per rank")
    p.add_argument("--world", type=int, default=2, help="ranks in ddp mode")
    p.add_argument("--port", type=int, default=29517, help="gloo rendezvous port in ddp mode")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.bags < 1 or args.bag_size < 1 or args.bag_num < 1 or args.warmup < 0 or args.world < 1:
        p.error("--bags, --bag-size, --bag-num and --world must be positive, --warmup >= 0")
    {"load": mode_load, "train": mode_train, "ddp": mode_ddp, "compute": mode_compute}[args.mode](args)


if __name__ == "__main__":
    main()

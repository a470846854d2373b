"""`python -m runner [subcommand]`; with no subcommand, list the subcommands."""
from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .demo import main
    return main(args)


def _bench(args) -> int:
    from .bench import main
    return main(args)


def _train(args) -> int:
    from .train import main
    return main(args)


def _keys(args) -> int:
    from .keys import main
    return main(args)


def _devices(args) -> int:
    from .devices import main
    return main(args)


SUBCOMMANDS = {
    "demo": ("train a small model on the CPU and print its loss going down", _demo),
    "bench": ("run benchmarks: bench core | runtime | rnn | dataparallel | modelparallel | all",
              _bench),
    "train": ("train digits --workers N [--ps K] --mode sync|async (data-parallel) | "
              "train lstm --devices cpu:0,cpu:1 --mode model-parallel", _train),
    "keys": ("make the CurveZMQ keys of an authenticated cluster: keys DIR [--client NAME]",
             _keys),
    "devices": ("list this machine's devices (CPU core groups, GPUs) with cores and memory",
                _devices),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m runner <subcommand> [args]\n\nsubcommands:")
        for name, (doc, _) in SUBCOMMANDS.items():
            print(f"  {name:<8} {doc}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"runner: unknown subcommand {name!r}; try: {', '.join(SUBCOMMANDS)}",
              file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"python -m runner {name}",
                                     description=SUBCOMMANDS[name][0])
    if name == "bench":
        parser.add_argument("suite", nargs="?", default="all",
                            help="core | runtime | rnn | dataparallel | modelparallel | all "
                                 "(default)")
        parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    if name == "demo":
        parser.add_argument("--steps", type=int, default=1000)
    if name == "train":
        parser.add_argument("dataset", help="digits (the digits CNN, data-parallel) or lstm "
                                            "(a character LSTM of tiny Shakespeare, "
                                            "model-parallel)")
        parser.add_argument("--workers", type=int, default=2, help="replicas (default 2)")
        parser.add_argument("--ps", type=int, default=0, help="ps tasks (async mode)")
        parser.add_argument("--mode", choices=["sync", "async", "model-parallel", "single"],
                            default=None, help="digits: sync (default) | async; lstm: "
                                               "model-parallel (default) | single (one device)")
        parser.add_argument("--steps", type=int, default=None,
                            help="global steps (digits 600, lstm 300)")
        parser.add_argument("--batch", type=int, default=32,
                            help="examples per worker per step (32)")
        parser.add_argument("--devices", default="cpu:0,cpu:1",
                            help="lstm: the devices, layer k on device k mod n (cpu:0,cpu:1)")
        parser.add_argument("--layers", type=int, default=2, help="lstm: LSTM layers (2)")
        parser.add_argument("--hidden", type=int, default=256, help="lstm: units per layer")
        parser.add_argument("--seq", type=int, default=64, help="lstm: time steps (64)")
        parser.add_argument("--learning-rate", type=float, default=0.005,
                            help="lstm: Adam's learning rate (0.005)")
        parser.add_argument("--sample", type=int, default=300,
                            help="lstm: characters to sample at the end (300)")
        parser.add_argument("--expect-val-loss", type=float, default=None,
                            help="lstm: exit with status 1 if the validation loss is above")
        parser.add_argument("--logdir", help="checkpoints and train.log (default: a new "
                                             "temporary directory; an existing one resumes)")
        parser.add_argument("--checkpoint-steps", type=int, default=200,
                            help="checkpoint every N steps (200)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--expect-accuracy", type=float, default=None,
                            help="exit with status 1 if the test accuracy is below this")
    if name == "keys":
        parser.add_argument("directory", help="the key directory (made if missing)")
        parser.add_argument("--client", action="append",
                            help="also make a client key pair of this name (repeatable)")
    if name == "devices":
        parser.add_argument("--cpus", type=int, help="CPU devices (device_count['CPU'])")
        parser.add_argument("--gpus", type=int, help="at most this many GPUs")
        parser.add_argument("--job", help="name prefix, default /job:localhost/replica:0/task:0")
    args = parser.parse_args(rest)
    return SUBCOMMANDS[name][1](args) or 0


if __name__ == "__main__":
    sys.exit(main())

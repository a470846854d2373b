"""`python -m runner keys DIR [--client NAME ...]`: make the CurveZMQ keys of a cluster.

Makes (or completes: existing keys are kept) the key directory `tensorweave/runtime/curve.py`
describes: the cluster's key pair, one pair per `--client`, and their public keys in
`DIR/authorized/`, the allow-list every task reads.  Copy DIR to each host of the cluster
over a channel you trust; give a client that must not serve only `cluster.key` and its own
pair.  Prints the files and how to use them.
"""
from __future__ import annotations

import os
import sys

from tensorweave.runtime.curve import make_keys


def main(args) -> int:
    try:
        files = make_keys(args.directory, args.client or ())
    except (OSError, ValueError, RuntimeError) as e:
        print(f"runner keys: {e}", file=sys.stderr)
        return 2
    d = os.path.abspath(args.directory)
    for f in files:
        print(f)
    print(f"\nStart each task with the keys (its config, or the environment):\n"
          f"  tw.train.Server(cluster, job, task, config=tw.ConfigProto(experimental="
          f"{{'cluster_keys': {d!r}}}))\n"
          f"  TENSORWEAVE_CLUSTER_KEYS={d} python train.py\n"
          f"and connect sessions the same way (a client's own pair: 'client_key': NAME or "
          f"TENSORWEAVE_CLIENT_KEY=NAME).  Remove a public key from {d}/authorized/ to revoke "
          f"it (tasks read the list when they start).")
    return 0

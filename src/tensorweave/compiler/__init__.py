"""Graph passes between the client's graph and the executor: pruning (`prune`), placement
(`placer`), partitioning (`partitioner`, with the check of its output and the feed/fetch
layout), the lowering of Operations to the executor's `ExecNode`s (`exec_nodes`), and the
build-time constant folding of shape arithmetic (`constant_folding`)."""

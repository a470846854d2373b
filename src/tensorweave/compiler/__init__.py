"""Graph passes between the client's graph and the workers: placement (`placer`) and
partitioning (`partitioner`)."""

//! Index shards: quantised CLIP features, kd-trees over feature subsets, box and k-NN queries.

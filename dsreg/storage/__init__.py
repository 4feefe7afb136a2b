"""Shard storage: writers and memory-mapped readers behind one small interface."""

from dsreg.storage.arrow_shards import ShardReader, ShardWriter, WrittenShard, sha256_file

__all__ = ["ShardReader", "ShardWriter", "WrittenShard", "sha256_file"]

"""Everything that reads or writes checkpoints, lineage, the checkpoint log and traces."""

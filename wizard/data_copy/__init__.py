"""The copy: create the bare tables, copy every table in batches (each committed with its checkpoint, in worker
processes), then build keys, indexes, constraints and foreign keys; resumable after any interruption."""

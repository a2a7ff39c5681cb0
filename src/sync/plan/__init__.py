"""Planning (pure, no storage): matching, diff, drift, plan order and batches, the deletion guard."""

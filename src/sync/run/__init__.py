"""One run as steps (I/O): context, reading, planning, guard, apply, finish; leases, quarantine."""

"""Rules, planner, executor, runs and storage: the engine between sources and targets."""

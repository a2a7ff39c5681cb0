"""Around runs: the durable engine binding, worker, maintenance, schedules, HR events, run requests and control."""

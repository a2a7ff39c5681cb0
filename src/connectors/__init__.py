"""The lowest layer: the connector contract, its vocabulary, the kit and one folder per system."""

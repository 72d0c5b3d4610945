"""The demo: a sample population register (Dukcapil) served through the bus."""

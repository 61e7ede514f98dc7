"""Training: the loop (`loop.fit`), the checkpoint format (`checkpoint`), the optimiser pieces."""

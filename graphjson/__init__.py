"""The bottom layer: reading Graph JSON values and Graph timestamps.

Pure and dependency-free: every other package may import it, and it imports nothing of Perimeter's.
"""

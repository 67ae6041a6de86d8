"""The parts of scripts/bench/train_throughput.py: variants, the timed step record, the two sides."""

"""Training: typed settings → LightningModule + Trainer → fit → best checkpoint scored → run folder; exact resume, ranks, checkpoints."""

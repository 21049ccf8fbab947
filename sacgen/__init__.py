"""sacgen: Agent YAML -> validated spec -> self-contained bash artifacts for SLURM."""

__version__ = "0.1.0"

"""``genjscc`` console script. Each command module registers its commands on import."""

from genjscc.cli.app import app, train_app, zoo_app

# Command modules: importing one registers its commands on `app`.
from genjscc.cli import app_cmds, core, data_cmds, metrics_cmds, report_cmds, stylegan2_cmds, train  # noqa: E402,F401

__all__ = ["app", "train_app", "zoo_app", "main"]


def main() -> None:
    """The console script: tune the glibc allocator for large tensors (the process is ours), then run."""
    from genjscc.utils.allocator import tune_allocator

    tune_allocator()
    app()

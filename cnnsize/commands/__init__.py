"""CLI commands that live in modules of their own (registered in `cnnsize.cli`)."""

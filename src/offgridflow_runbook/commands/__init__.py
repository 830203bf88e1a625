"""Subcommands of ``offgridflow-runbook`` (each module: ``add_parser(subparsers)``)."""

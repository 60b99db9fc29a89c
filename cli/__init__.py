"""The `whoknows` command line: `cli.main` is the entry point, one module per command group."""

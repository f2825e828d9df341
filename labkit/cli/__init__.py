"""The `labkit` command: a thin layer of subcommands over the packages below (none imports it)."""

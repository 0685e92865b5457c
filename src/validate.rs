//! ATIF validation (see `validate` subcommand).

"""Forms of the licensing pages: they check types; the services decide."""

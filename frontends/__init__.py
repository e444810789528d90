"""kb's frontends: the command line, the log pipe and the shell (thin layers over kb)."""

"""The commands, one module per kind of work; ``cli/app.py`` registers them in help order."""

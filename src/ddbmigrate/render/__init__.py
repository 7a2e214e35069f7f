"""Presentation of what the core builds: the run report as an HTML page with an SVG chart."""

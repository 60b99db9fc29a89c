"""The Teams app package: its template, its icons and the builder behind `whoknows manifest`."""

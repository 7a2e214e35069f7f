"""``python -m ddbmigrate``."""

from ddbmigrate.cli.app import run

if __name__ == "__main__":
    run()

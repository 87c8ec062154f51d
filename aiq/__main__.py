"""`python -m aiq` runs the CLI."""

from aiq.cli import main

if __name__ == "__main__":
    main()

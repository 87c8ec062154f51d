"""`python -m aiq` runs the CLI (through the same fast entry point as the `aiq` command)."""

from aiq.startup import main

if __name__ == "__main__":
    main()

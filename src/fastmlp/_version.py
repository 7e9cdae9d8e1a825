#!/usr/bin/env python3
"""The one place fastmlp's version is written; meson.build runs this file to read it."""

__version__ = "0.2.0.dev0"

if __name__ == "__main__":
    print(__version__)

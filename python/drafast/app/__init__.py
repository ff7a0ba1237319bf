"""Composition root: CLI, settings from flags + env + file, wiring, lifecycle, signals, demo.

The only package that builds concrete objects and hands them to each other. May import every
drafast package except drafast.testing.
"""

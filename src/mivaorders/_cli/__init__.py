"""The ``mivaorders`` command's internals; the entry point is :func:`mivaorders.cli.main`."""

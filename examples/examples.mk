# Examples and `make demo`: see examples/README in the top README.
EXTRA_BINS +=

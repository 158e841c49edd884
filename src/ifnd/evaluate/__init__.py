"""Evaluations of pretrained encoders: kNN, linear, semi-supervised, and the reference rows."""

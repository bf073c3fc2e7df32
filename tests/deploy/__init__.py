"""Tests of deploy/: the image, compose, Kubernetes and systemd files and the Grafana dashboard."""

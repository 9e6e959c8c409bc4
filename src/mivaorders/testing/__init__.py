"""Test helpers for mivaorders integrations: a simulated Miva store."""

"""`make bench`: what the relay costs, against a bare forwarder, measured in one run."""

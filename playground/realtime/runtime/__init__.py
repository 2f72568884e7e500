"""The relay runtime: what keeps a live session going, in whichever worker opened it.

relay.py (the upstream socket, numbering, publishing), messages.py (every channel-layer message),
recorder.py (batched writes off the forwarding path), state.py (every session state change),
lease.py (heartbeats and the sweeper), follow.py (gapless following), frames.py (frame text),
layers.py and pubsub_layer.py (the channel layers). docs/architecture.md draws it.
"""

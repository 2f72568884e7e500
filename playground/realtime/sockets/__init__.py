"""The WebSocket endpoints: `/ws/sessions/<id>/` (session.py) and `/v1/realtime` (openai.py), on one base."""

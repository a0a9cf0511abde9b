"""Generated from proto/dlog/v1 by scripts/generate_proto.py: do not edit."""

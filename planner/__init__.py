"""planner: optimization-based capacity planning for serverless platforms."""

__version__ = "0.1.0"

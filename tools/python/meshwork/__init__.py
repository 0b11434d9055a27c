"""meshwork: a Python client of the meshwork task mesh (python3-zmq, python3-msgpack)."""

from .client import Client, TaskFailed, TaskFuture
from .wire import MeshError

__all__ = ["Client", "MeshError", "TaskFailed", "TaskFuture"]

"""Every command, registered on the group by importing its module."""

from taas_async._cli import _batch, _live, _misc, _orders

__all__ = ["_batch", "_live", "_misc", "_orders"]

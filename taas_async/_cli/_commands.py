"""Every command, registered on the group by importing its module."""

from taas_async._cli import _live, _misc, _orders

__all__ = ["_live", "_misc", "_orders"]

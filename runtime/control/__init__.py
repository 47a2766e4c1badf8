"""The RuntimeControl channel: how the levers monitoring pulls (circuit
forced open, canary percent) reach every predictor of a model.

``channel`` is the interface and its two backends (``file``: the JSON file
under work_dir, one machine; ``database``: one ``runtime_control`` row in the
review store, which the monitor pod and every predictor replica reach),
``codec`` the one JSON form both store, ``refresher`` the predictor's
background reader of a database channel.
"""

from runtime.control.channel import (CONTROL_DDL, ControlChannel, DatabaseChannel, FileChannel, open_channel)
from runtime.control.codec import decode, encode
from runtime.control.refresher import ControlRefresher

__all__ = ["CONTROL_DDL", "ControlChannel", "ControlRefresher", "DatabaseChannel", "FileChannel", "decode", "encode",
           "open_channel"]

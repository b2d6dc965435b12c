"""TRex profile: Bidirectional 64-byte bulk plus a 1000 pps latency stream (flow stats) per direction.

Thin wrapper over upf.py (see its doc for the tunables and port convention);
tunables given with `-t` override these defaults.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upf  # noqa: E402


class Profile(upf.UPFProfile):
    defaults = ['--traffic', 'bidir', '--latency-pps', '1000']


def register():
    return Profile()

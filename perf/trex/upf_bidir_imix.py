"""TRex profile: bidirectional IMIX, 7:4:1 of 64/576/1400-byte inner IP packets.

Thin wrapper over upf.py (see its doc for the tunables and port convention);
tunables given with `-t` override these defaults.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upf  # noqa: E402


class Profile(upf.UPFProfile):
    defaults = ['--traffic', 'bidir', '--imix', upf.DEFAULT_IMIX]


def register():
    return Profile()

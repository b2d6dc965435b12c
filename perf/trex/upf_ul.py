"""TRex profile: UL G-PDUs only (N3 port); DL port sends nothing.

Thin wrapper over upf.py (see its doc for the tunables and port convention);
tunables given with `-t` override these defaults.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upf  # noqa: E402


class Profile(upf.UPFProfile):
    defaults = ['--traffic', 'ul']


def register():
    return Profile()

"""SPLP: the regency government service bus (Sistem Penghubung Layanan Pemerintah).

Subpackages:

* :mod:`splp.bus` - the wire contract, topology names and the requester SDK;
* :mod:`splp.adapters` - the publisher SDK and the config-driven HTTP adapter;
* :mod:`splp.directory_service` - metadata repository, service directory, access procedure;
* :mod:`splp.cli` - the ``splp`` command.
"""

from __future__ import annotations

__version__ = "0.1.0"

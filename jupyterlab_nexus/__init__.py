"""jupyterlab-nexus: NeXus/HDF5 viewer for JupyterLab backed by a companion Node server.

The companion server is started on demand by jupyter-server-proxy (see ``proxy.py``)
and reached at ``<base_url>nexus/``.
"""

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0.dev0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-nexus"}]

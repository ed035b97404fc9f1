"""The web studio: a local page to stylize images, with a job queue and a gallery.

Start it with ``painterly serve``.  Needs the optional dependencies of ``painterly[web]``
(FastAPI, uvicorn, python-multipart); nothing here is imported by ``import painterly``.
"""

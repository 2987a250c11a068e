# Written by wsgilab: gunicorn imports "module:callable"; this module loads the WSGI file.
import importlib.machinery
import importlib.util
import sys

_loader = importlib.machinery.SourceFileLoader("wsgilab_wsgi_app", "@STACK@/app/app.wsgi")
_spec = importlib.util.spec_from_loader(_loader.name, _loader)
_mod = importlib.util.module_from_spec(_spec)
sys.modules[_loader.name] = _mod
_loader.exec_module(_mod)
application = _mod.application

# Written by wsgilab (internal/server/gunicorn); gunicorn -c this file.
wsgi_app = "wsgilab_app:application"
bind = ["127.0.0.1:37403"]
workers = 2
worker_class = "sync"
accesslog = "@STACK@/gunicorn/access.log"
access_log_format = "%(h)s %(t)s \"%(r)s\" %(s)s %(b)s %(D)s %(p)s %({x-pid}o)s %({x-app-time-us}o)s"
errorlog = "-"
loglevel = "info"
pythonpath = "@STACK@/gunicorn"
user = "www-data"
group = "www-data"

#!/bin/sh
# A worker: busybox httpd serving /srv/cgi-bin on port 80.
httpd -f -p 80 -h /srv &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait

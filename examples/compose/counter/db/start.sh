#!/bin/sh
# The db: busybox httpd serving /srv/cgi-bin on port 5000; the data lives under /data.
mkdir -p /data
httpd -f -p 5000 -h /srv &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait

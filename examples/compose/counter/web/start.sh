#!/bin/sh
# The web front end: busybox httpd serving /srv (a page and a CGI) on port 80.
httpd -f -p 80 -h /srv &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait

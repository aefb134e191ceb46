#!/bin/sh
# Sends job 1, 2, ... to the workers in turn: each job looks the service name up again (the
# embedded DNS answers with every running replica), so a scale up or down is seen at the next job.
trap 'exit 0' TERM INT
n=0
while true; do
  n=$((n + 1))
  # nslookup prints the server's Address first, then one "Address:" per answer after "Name:".
  set -- $(nslookup worker 2>/dev/null | awk '/^Name:/ { found = 1 } found && /^Address/ { print $2 }')
  if [ $# -eq 0 ]; then
    echo "job $n: no worker"
  else
    i=$((n % $# + 1))
    eval addr=\${$i}
    echo "job $n: $(wget -q -O - "http://$addr/cgi-bin/job?n=$n" 2>/dev/null || echo failed) ($# workers)"
  fi
  sleep 0.5 &
  wait $!
done

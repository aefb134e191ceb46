# syntax=docker/dockerfile:1.4
FROM debian:bookworm-slim
RUN <<EOT bash
  set -ex
  apt-get update
  apt-get install -y --no-install-recommends ca-certificates
  rm -rf /var/lib/apt/lists/*
EOT
COPY <<-"EOF" /etc/motd
	Welcome, $USER (not expanded)
	EOF
RUN <<EOF
#!/usr/bin/env python3
print("hello from a heredoc")
EOF
COPY <<conf1 <<conf2 /etc/app/
a=1
conf1
b=2
conf2

ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest}
ARG USER_ID=1000
ENV HOME=/home/u \
    PATH=/home/u/bin:$PATH
ENV GREETING="hello world" QUOTED='$NOT_EXPANDED' ESCAPED=\$HOME
WORKDIR ${HOME}/work
LABEL version="${TAG:+tagged}" alt=${MISSING-fallback}
USER ${USER_ID}
EXPOSE 8000-8002/tcp 53/udp

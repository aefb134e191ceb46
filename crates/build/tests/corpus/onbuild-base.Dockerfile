FROM alpine:3.20
MAINTAINER someone@example.com
ONBUILD COPY . /src
ONBUILD RUN make -C /src
ADD --chown=1000:1000 https://example.com/release.tar.gz /opt/
ADD vendor.tar.gz /opt/vendor/
ARG HTTP_PROXY
RUN apk add --no-cache make

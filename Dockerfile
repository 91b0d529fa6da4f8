# syntax=docker/dockerfile:1
# The router's image for those who build with Docker: the same layout that scripts/build-image.ts
# (npm run build:image) writes without a container engine, from the same single executables:
#   layer 1  glibc's loader and the four libraries the executable links to (Debian bookworm's libc6 of
#            the target architecture), the Mozilla CA bundle (ca-certificates), /etc/passwd and
#            /etc/group with registry-router (65532), /etc/nsswitch.conf, /tmp, /proc, /dev,
#            /etc/registry-router/ (mount the config here), the two packages' copyright files
#   layer 2  /usr/local/bin/registry-router
# Build the executables first, then the image (both platforms without emulation: nothing runs on the
# target platform, the target's packages are only unpacked):
#   npm run build:bin
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" -t registry.example.com/registry-router:0.1.0 --push .
# Not built in this repo's tests (no Docker engine there); test/ship/image.test.ts runs the script's image
# and checks that this file declares the same entrypoint, user, ports and environment.

FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS base
ARG TARGETARCH
COPY dist/registry-router-linux-x64 dist/registry-router-linux-arm64 /executables/
RUN set -eu; \
  case "$TARGETARCH" in \
    amd64) triplet=x86_64-linux-gnu; loader=/lib64/ld-linux-x86-64.so.2; executable=registry-router-linux-x64 ;; \
    arm64) triplet=aarch64-linux-gnu; loader=/lib/ld-linux-aarch64.so.1; executable=registry-router-linux-arm64 ;; \
    *) echo "registry-router: no executable for $TARGETARCH (linux/amd64 and linux/arm64 only)" >&2; exit 1 ;; \
  esac; \
  dpkg --add-architecture "$TARGETARCH"; \
  apt-get update -qq; \
  cd /tmp; apt-get download -qq "libc6:$TARGETARCH" ca-certificates; \
  dpkg-deb -x libc6_*.deb /libc; dpkg-deb -x ca-certificates_*.deb /certs; \
  mkdir -p /rootfs/lib/$triplet /rootfs$(dirname $loader) /rootfs/etc/ssl/certs /rootfs/etc/registry-router \
    /rootfs/usr/share/doc/libc6 /rootfs/usr/share/doc/ca-certificates /rootfs/proc /rootfs/dev /rootfs/tmp /app; \
  for lib in $(basename $loader) libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2; do cp -a /libc/lib/$triplet/$lib /rootfs/lib/$triplet/; done; \
  cp -a /libc$loader /rootfs$loader; \
  cp /libc/usr/share/doc/libc6/copyright /rootfs/usr/share/doc/libc6/; \
  cp /certs/usr/share/doc/ca-certificates/copyright /rootfs/usr/share/doc/ca-certificates/; \
  for crt in $(ls /certs/usr/share/ca-certificates/mozilla/*.crt | LC_ALL=C sort); do sed -e '$a\' "$crt"; done > /rootfs/etc/ssl/certs/ca-certificates.crt; \
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nregistry-router:x:65532:65532:registry-router:/nonexistent:/usr/sbin/nologin\n' > /rootfs/etc/passwd; \
  printf 'root:x:0:\nregistry-router:x:65532:\n' > /rootfs/etc/group; \
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
  chmod 1777 /rootfs/tmp; chmod 555 /rootfs/proc; \
  install -m 0755 /executables/$executable /app/registry-router

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=
COPY --from=base /rootfs/ /
COPY --from=base /app/registry-router /usr/local/bin/registry-router
USER 65532:65532
ENV PATH=/usr/local/bin:/usr/bin:/bin REGISTRY_ROUTER_CONFIG=/etc/registry-router/router.json SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8080/tcp 8443/tcp
LABEL org.opencontainers.image.title="registry-router" \
  org.opencontainers.image.description="One hostname for docker pull and docker push in front of Sonatype Nexus: reads to the group, writes to the hosted repository." \
  org.opencontainers.image.version="$VERSION" \
  org.opencontainers.image.revision="$REVISION"
WORKDIR /
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/registry-router"]
CMD ["serve"]
